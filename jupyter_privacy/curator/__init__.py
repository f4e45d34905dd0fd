"""Curator mode: the data, the ledger and the audit log in a separate process.

``jupyter_privacy.curator.client`` is the kernel's end (imported by ``jp.connect``);
``jupyter_privacy.curator.server`` is ``jupyter-privacy serve``.
"""
