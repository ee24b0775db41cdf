"""The HTTP server: the app factory, what a process builds once and shares, dependencies, bare routes, error mapping, health."""  # noqa: E501
