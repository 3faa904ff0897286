with open("essay.txt") as f:
    count = len(f.readlines())
with open("word_count.txt", "w") as f:
    f.write(str(count))
