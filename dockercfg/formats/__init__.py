"""Parsers that keep a file's own bytes: comments, order and layout survive an edit."""
