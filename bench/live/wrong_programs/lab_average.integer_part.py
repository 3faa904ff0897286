values = []
for line in open("measurements.csv"):
    if line.startswith("#") or line.startswith("sensor"):
        continue
    values.append(float(line.split(";")[1].split(",")[0]))
with open("average.txt", "w") as f:
    f.write(f"{sum(values) / len(values):.2f}")
