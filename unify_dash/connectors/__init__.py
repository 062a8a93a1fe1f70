"""The live CRM connectors (docs/connectors.md): ``crm pull`` reads Salesforce / HubSpot through their REST
APIs into the same export loader as the files (pull.py), ``crm push`` writes the pending opt-out write-backs
(push.py); http.py is the one HTTP session (Bearer token, verified TLS, retries), config.py where each CRM
is, salesforce.py / hubspot.py the endpoints. Above ``io/`` and ``actions/``, below ``cli/`` (``cli/crm.py``: the verbs) and ``app/``."""
