def product_except_self(nums: list[int]) -> list[int]:
    out = [1] * len(nums)
    before = 1
    for i, value in enumerate(nums):
        out[i] = before
        before *= value
    after = 1
    for i in range(len(nums) - 1, -1, -1):
        out[i] *= after
        after *= nums[i]
    return out
