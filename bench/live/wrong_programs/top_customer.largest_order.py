import csv, json

best_customer, best_total = None, -1.0
with open("orders.csv") as f:
    for row in csv.DictReader(f):
        if float(row["total"]) > best_total:
            best_customer, best_total = row["customer_id"], float(row["total"])
customers = json.load(open("customers.json"))
email = next(c["email"] for c in customers if c["id"] == best_customer)
open("top_email.txt", "w").write(email + "\n")
