with open("names.txt") as f:
    names = [line.strip().lower() for line in f if line.strip()]
with open("names_sorted.txt", "w") as f:
    f.write("\n".join(sorted(set(names))) + "\n")
