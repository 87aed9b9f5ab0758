"""Schemathesis hooks of deploy/local/schemathesis.sh (SCHEMATHESIS_HOOKS).

OpenAPI cannot state rules between parameters (`before` and `after`
exclude each other, `from` before `to`, a range's span) or that a cursor
must be one the server issued. The document lists them per operation in
`x-rules`, each with the message of the 400 a request breaking it gets.
This hook lets exactly those 400s pass the positive_data_acceptance check
(a schema-valid request that breaks an x-rule is refused, as documented);
any other 400 to a schema-valid request still fails the run, and every
other check is untouched. Schemathesis counts the failures a hook drops
in its summary.
"""

import json
import re

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    rules = (context.operation.definition.raw or {}).get("x-rules") or []
    try:
        message = json.loads(response.content)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return True
    return not any(re.search(rule["refusal"], message) for rule in rules)
