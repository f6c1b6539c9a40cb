"""The Slack bot: Bolt listeners and Block Kit over ``agent.stream_turn`` and the tools.

HTTP mode mounts at ``POST /slack/events`` (``ui.slack.http.mount_slack``); Socket Mode
runs with ``pricing-agent slack socket`` (``ui.slack.socket.run_socket_mode``).

The Slack app it expects (api.slack.com/apps):

* bot scopes ``app_mentions:read``, ``chat:write``, ``im:history``, ``commands``;
* events ``app_mention`` and ``message.im``; interactivity on; a ``/price`` command;
* in HTTP mode, one request URL for all three: ``https://<host>/slack/events``;
* settings ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` (HTTP) or ``SLACK_APP_TOKEN``
  (Socket Mode); then ``pricing-agent slack link-workspace T… --org <organisation>``.
"""
