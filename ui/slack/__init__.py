"""The Slack bot: Bolt listeners and Block Kit over ``agent.stream_turn`` and the tools.

HTTP mode mounts at ``POST /slack/events`` (``ui.slack.http.mount_slack``); Socket Mode
runs with ``pricing-agent slack socket`` (``ui.slack.socket.run_socket_mode``).
"""
