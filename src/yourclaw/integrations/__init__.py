"""Connected services: the user's Google Calendar, Gmail and Drive, whose tokens stay in the control plane,
and the MCP server through which the assistant uses them."""
