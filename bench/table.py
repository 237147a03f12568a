"""The benchmark scripts' tables: a title line, then columns right-aligned under their heads (the
first, the row names, left-aligned)."""


def show(title, cols, rows):
    widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(cols)]
    print()
    print(title)
    for r in [cols] + rows:
        print("  ".join(x.rjust(w) if j else x.ljust(w) for j, (x, w) in enumerate(zip(r, widths))))
