-- 0004 "not the same person": pairs of customers an operator said differ.
-- They are never merged, and a face close to both is not added to either's
-- gallery. Keep in step with postgres/0004.
CREATE TABLE customer_exclusions (
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  customer_a INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  customer_b INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (customer_a, customer_b),
  CHECK (customer_a < customer_b)
);
CREATE INDEX customer_exclusions_b ON customer_exclusions (customer_b);
