"""In-tree scheduler plugins, one module or package each."""
