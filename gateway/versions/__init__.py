"""A function's versions (docs/versions.md): each version is its own service, and calls
are shared between them by weight.

- `model`: a version's labels and name, weights, which service a version lives in;
- `traffic`: the registry's grouping of versions and the choice of one per call;
- `requests`: the API's bodies (weights, promote, canary);
- `canary`: a canary's state machine, kept in a label;
- `controller`: every weight change, asked through the API or stepped by a canary.

Nothing is imported here: `gateway.providers.base` imports `traffic` (the registry groups
versions), and `controller` imports the providers' types.
"""
