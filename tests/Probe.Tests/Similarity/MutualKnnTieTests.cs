using Probe.Similarity;
using Xunit;

namespace Probe.Tests.Similarity;

/// <summary>
/// Mutual k-NN's documented tie rule (ties to the lower index) for similarities that are equal in exact arithmetic
/// but not after rounding, with values worked out by hand.
/// </summary>
public class MutualKnnTieTests
{
    [Fact]
    public void RowsPointingTheSameWayTieAndTheTieGoesToTheLowerIndex()
    {
        // X's rows 0, 1 and 2 all point along e1 (cosine exactly 1 with each other; row 3 is orthogonal to them), so in
        // exact arithmetic X has the same neighbours as Y, whose rows 0-2 are equal: with k = 1 and ties to the lower
        // index, row 0's neighbour is row 1, rows 1, 2 and 3 have row 0. Mutual 1-NN = 4/4 = 1. Normalising row 0 as
        // 49 * (1 / 49) gives 1 - 2^-53, which without the tie rule hands rows 1 and 2 each other (0.5).
        var x = new Matrix(4, 2, [49, 0, 1, 0, 2, 0, 0, 1]);
        var y = new Matrix(4, 2, [1, 0, 1, 0, 1, 0, 0, 1]);
        Assert.Equal(new[] { 1, 0, 0, 0 }, MutualKnnMeasure.NearestNeighbours(x, 1));
        Assert.Equal(new[] { 1, 0, 0, 0 }, MutualKnnMeasure.NearestNeighbours(y, 1));
        Assert.Equal(1.0, SimilarityMath.MutualKnn(x, y, 1));
    }

    [Fact]
    public void ReluRowsWithOneActiveUnitTieLikeEqualRows()
    {
        // Rows with one active unit (as ReLU layers give) of magnitudes 49, 3, 7, 1 on unit 0, then 5 on unit 1 and
        // 2 on unit 2. By hand (k = 2): rows 0-3 are the same direction, so each takes the two lowest other indices of
        // rows 0-3: row 0 -> {1, 2}, rows 1, 2, 3 -> {0, 2}, {0, 1}, {0, 1}. Row 4 (e2) and row 5 (e3) have cosine 0 with
        // every other row: all tie, the two lowest other indices, {0, 1}. The same lists as the matrix of equal rows.
        var x = new Matrix(6, 3, [49, 0, 0, 3, 0, 0, 7, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 2]);
        var y = new Matrix(6, 3, [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
        int[] expected = [1, 2, 0, 2, 0, 1, 0, 1, 0, 1, 0, 1];
        Assert.Equal(expected, MutualKnnMeasure.NearestNeighbours(x, 2));
        Assert.Equal(expected, MutualKnnMeasure.NearestNeighbours(x, 2, blockRows: 1));
        Assert.Equal(1.0, SimilarityMath.MutualKnn(x, y, 2));
    }
}
