def min_coins(coins: list[int], amount: int) -> int:
    unreachable = amount + 1
    fewest = [0] + [unreachable] * amount
    for total in range(1, amount + 1):
        for coin in coins:
            if coin <= total and fewest[total - coin] + 1 < fewest[total]:
                fewest[total] = fewest[total - coin] + 1
    return -1 if fewest[amount] == unreachable else fewest[amount]
