"""The DNS backends the sync service writes zones to, one module each (BIND so far)."""
