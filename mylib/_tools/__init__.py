"""Development tools shipped with mylib; nothing here is imported by ``import mylib``."""
