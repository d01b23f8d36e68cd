"""The home area: login, logout and the role's dashboard, which reads the other areas' figures."""
