"""Users, roles, scopes and API tokens (用户、角色与权限范围)."""
