"""pcompile's runtime: the one entrypoint inside every container and local worker.

It receives pickled inputs, imports the user's function by ``module`` + ``qualname``,
runs it and sends back a pickled result. Pieces, one job each:

* :mod:`.protocol` - versioned envelopes, (de)serialisation, staged payloads, errors;
* :mod:`.storage` - the small blob interface large payloads go through;
* :mod:`.execute` - resolving functions, ``@app.cls`` lifecycle, running one input;
* :mod:`.worker` - the local worker process (``python -m pcompile.runtime worker``);
* :mod:`.mounts` - making volume mount paths such as ``/weights`` work on this machine;
* :mod:`.web` - turning web functions into ASGI apps.
* :mod:`.container` - the container runtime both clouds share; :mod:`.gcp_container` and
  :mod:`.aws_runtime` read their cloud's environment contract into it.

Importing this package stays cheap: no pulumi, no compiler, cloud SDKs only in the
modes that use them.
"""
