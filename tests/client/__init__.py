"""Tests of the blocking Client and (later) the AsyncClient; they share test names."""
