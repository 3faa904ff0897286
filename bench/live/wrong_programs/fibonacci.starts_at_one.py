n = int(open("count.txt").read().strip())
a, b = 1, 1
numbers = []
for _ in range(n):
    numbers.append(a)
    a, b = b, a + b
with open("fib.txt", "w") as f:
    f.write("\n".join(str(x) for x in numbers) + "\n")
