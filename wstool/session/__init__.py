"""Sessions: every frame of a conversation kept in a file, read back, replayed, exported.

``format`` defines the file and reads it strictly; ``recorder`` writes it as
serve and connect run; ``har`` converts to and from the HAR of browsers'
developer tools. Standard library and core only (orjson where it writes).
"""
