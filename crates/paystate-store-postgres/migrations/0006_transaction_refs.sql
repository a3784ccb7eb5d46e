-- The console's search box finds a payment by its transaction reference (the PSP's id, kept in
-- the payment's document): an index on that member keeps the lookup a seek at any size.
CREATE INDEX payments_by_transaction_ref ON payments (tenant_id, (doc->>'transaction_ref'));
