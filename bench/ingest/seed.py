# Seeds a Footfall SQLite database with N anonymous customers, one exemplar
# each (random descriptors shaped like face-api's: components ~N(0, 0.12)),
# straight into the tables the server loads its gallery from at start-up.
# usage: python3 seed.py DB TENANT_ID N SEED_JSON_OUT
import json, random, sqlite3, struct, sys, time
db, tenant, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
random.seed(7)
con = sqlite3.connect(db)
now = int(time.time() * 1000)
known = []
con.execute("BEGIN")
for i in range(n):
    v = [random.gauss(0, 0.125) for _ in range(128)]
    if len(known) < 1000:
        known.append(v)
    cur = con.execute("INSERT INTO customers (tenant_id, first_seen_at, last_seen_at, visit_count, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)", (tenant, now, now, now, now))
    con.execute("INSERT INTO customer_faces (tenant_id, customer_id, descriptor, model, quality, created_at) VALUES (?, ?, ?, 'face-api-1.7.15', 0.8, ?)",
                (tenant, cur.lastrowid, struct.pack('<128f', *v), now))
con.execute("COMMIT")
json.dump(known, open(out, 'w'))
