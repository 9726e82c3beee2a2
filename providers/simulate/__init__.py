"""The ``engine: simulate`` tier: deploy the emitted Pulumi program into cloud API
emulators (moto server, gcp-storage-emulator) and play the compute those clouds
would run (Lambda Invoke, Function URLs, Batch jobs, schedules) on loopback.

See ``docs/deploy.md`` ("Testing a deploy on one machine") for what it proves.
"""
