lines = open("poem.txt").read().split("\n")
open("lines.txt", "w").write(str(len(lines)))
numbers = [float(x) for x in open("numbers.txt").read().split()]
largest = max(numbers)
open("max.txt", "w").write(str(int(largest)) if largest == int(largest) else str(largest))
open("reversed.txt", "w").write(open("word.txt").read().strip()[::-1])
