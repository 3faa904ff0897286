import csv, json

sums, counts = {}, {}
with open("sales.csv") as f:
    for row in csv.DictReader(f):
        region = row["region"]
        sums[region] = sums.get(region, 0.0) + float(row["amount"])
        counts[region] = counts.get(region, 0) + 1
json.dump({r: sums[r] / counts[r] for r in sums}, open("totals.json", "w"))
