"""The four lists (四张清单): regulations (制度), the archive (档案) and the lists built over the registry."""
