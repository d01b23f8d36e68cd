"""The change log (操作日志): who changed what, when, with before and after."""
