"""The ``cmd_*`` functions of the ``scene3d`` commands, one module per stage (the top layer:
they may import any stage; nothing imports them but :mod:`scene3d.cli`).

They live here rather than inside each stage's package so that importing one does not run
that package's ``__init__`` (torch, transformers): a command checks its own arguments first
and answers a wrong one in well under a second.
"""
