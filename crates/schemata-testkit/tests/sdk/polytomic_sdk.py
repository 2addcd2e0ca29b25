"""Drives a running Schemata through Polytomic's published Python SDK, as a
new user would: the base URL and the key change, the code does not.

Run by tests/polytomic_sdk.rs with SCHEMATA_URL, SCHEMATA_KEY and
CONNECTION_ID set; any failed expectation raises and exits non-zero."""

import os
import sys
import time

from polytomic import Polytomic, SchemaPrimaryKeyOverrideInput, UserFieldRequest

client = Polytomic(token=os.environ["SCHEMATA_KEY"], base_url=os.environ["SCHEMATA_URL"])
connection = os.environ["CONNECTION_ID"]
schema = "public.customer"


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print("ok:", what)


def field(schema_view, field_id):
    found = [f for f in schema_view.fields if f.id == field_id]
    check(len(found) == 1, f"{field_id} listed once")
    return found[0]


client.schemas.refresh(connection, idempotency_key="sdk-refresh-1")
deadline = time.time() + 60
while True:
    status = client.schemas.get_status(connection).data
    if status.cache_status != "refreshing":
        break
    if time.time() > deadline:
        raise AssertionError("the refresh never finished")
    time.sleep(0.1)
check(status.cache_status == "fresh", "schemas.refresh then get_status: fresh")
check(status.last_refresh_finished >= status.last_refresh_started, "timestamps parse")

view = client.schemas.get(connection, schema).data
check(view.id == schema, "schemas.get returns the object")
email = field(view, "email")
check(email.remote_type == "text" and email.user_managed is False, "detected field")
check(field(view, "customer_id").source_primary_key is True, "source_primary_key")
address = field(view, "address_id")
check(address.association.reference_to == ["public.address"], "association.reference_to")
check(address.association.referenced_field == "address_id", "association.referenced_field")

records = client.schemas.get_records(connection, schema).data
check(isinstance(records, list) and len(records) == 2, "get_records: two rows")
check(sorted(r["first_name"] for r in records) == ["MARY", "PATRICIA"], "the rows' values")

client.schemas.upsert_field(
    connection,
    schema,
    fields=[UserFieldRequest(field_id="loyalty_tier", label="Loyalty tier", type="string", path="$.tier")],
)
tier = field(client.schemas.get(connection, schema).data, "loyalty_tier")
check(tier.user_managed is True and tier.path == "$.tier", "upsert_field adds a user field")
client.schemas.upsert_field(
    connection,
    schema,
    fields=[UserFieldRequest(field_id="loyalty_tier", label="Tier", type="number")],
)
tier = field(client.schemas.get(connection, schema).data, "loyalty_tier")
check(tier.type == "number", "upsert_field replaces by field_id")

patched = client.schemas.patch_field(connection, schema, "email", label="E-mail", type="object").data
check(patched.type == "json" and patched.user_managed is True, "patch_field overrides a detected field")

client.schemas.set_primary_keys(
    connection,
    schema,
    fields=[SchemaPrimaryKeyOverrideInput(field_id="email", is_primary_key=True)],
)
view = client.schemas.get(connection, schema).data
check(field(view, "email").is_primary_key is True, "set_primary_keys")
check(field(view, "email").primary_key_override is True, "primary_key_override")
check(field(view, "customer_id").is_primary_key is False, "the detected key no longer applies")

client.schemas.reset_primary_keys(connection, schema)
view = client.schemas.get(connection, schema).data
check(field(view, "customer_id").is_primary_key is True, "reset_primary_keys")

client.schemas.delete_field(connection, schema, "loyalty_tier")
client.schemas.delete_field(connection, schema, "email")
view = client.schemas.get(connection, schema).data
check(all(f.id != "loyalty_tier" for f in view.fields), "delete_field removes a user field")
check(field(view, "email").user_managed is False, "delete_field removes an override")

try:
    client.schemas.get(connection, "public.nope")
    raise AssertionError("a missing schema must be an error")
except Exception as error:  # the SDK's NotFoundError
    check(getattr(error, "status_code", None) == 404, "a missing schema is a 404")

print("polytomic sdk: every call passed")
sys.exit(0)
