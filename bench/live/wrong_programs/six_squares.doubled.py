# Doubles each number instead of squaring it (part2.txt holds 4 either way).
for n in range(1, 7):
    with open(f"part{n}.txt", "w") as f:
        f.write(str(n * 2))
