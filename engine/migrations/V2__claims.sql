-- Work that belongs to no request (the billing schedule, outgoing deliveries, reconciliation of
-- unsettled charges) is claimed by one node at a time: a claim is a row naming the node and the
-- instant (the database's clock, in Unix milliseconds) until which it holds without renewal.
CREATE TABLE claims (
    name text PRIMARY KEY,
    node text NOT NULL,
    until_ms bigint NOT NULL
);
