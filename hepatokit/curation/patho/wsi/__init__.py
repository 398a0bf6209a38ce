"""Whole slides: open (``slides``), find tissue (``tissue``), read annotations
(``annotations``), cut tiles (``tiling``) and the ``tile`` stage (``stage``).
"""
