"""The Jupyter layer: IPython extension, magics, read interception, display guard, comm, widgets."""
