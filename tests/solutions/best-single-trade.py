def max_profit(prices: list[int]) -> int:
    best = 0
    cheapest = None
    for price in prices:
        if cheapest is None or price < cheapest:
            cheapest = price
        best = max(best, price - cheapest)
    return best
