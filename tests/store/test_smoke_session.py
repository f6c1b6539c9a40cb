from sqlalchemy import text

from tests.conftest import count


def test_service_session_acts_as_app_role_in_its_org(session, org_id):
    row = session.execute(text("SELECT current_user, current_setting('app.org_id')")).one()
    assert row[0] == "pricing_app"
    assert row[1] == str(org_id)
    assert count(session, "organizations") == 1
