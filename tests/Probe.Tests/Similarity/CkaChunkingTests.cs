using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Similarity;

/// <summary>
/// The feature-space engine centres rows in chunks and forms X'X blockwise (upper-triangle blocks only). With tiny
/// chunks and blocks (so every edge case of the chunking and blocking runs on fixture-sized data) it must still give
/// NumPy's values of Fixtures/expected.json (1e-6 relative), and every squared norm must equal the plain formula.
/// </summary>
public class CkaChunkingTests
{
    private const double Tol = 1e-6;
    public static TheoryData<string> Others => new() { "cka_y_rot", "cka_y_relu", "cka_z", "cka_noise" };
    private static readonly Lazy<Matrix> X = new(() => ReadNpyFloat32("cka_x.npy"));
    private static double Expected(string other, string key) => Json.GetProperty("cka_x_vs").GetProperty(other).GetProperty(key).GetDouble();

    [Theory, MemberData(nameof(Others))]
    public void SmallChunksAndBlocksGiveNumPysValues(string other)
    {
        var y = ReadNpyFloat32(other + ".npy");
        var layers = new[] { X.Value, y };
        (int P, int Q)[] pairs = [(0, 0), (1, 1), (0, 1)];
        foreach (bool single in new[] { false, true })
            foreach (int chunk in new[] { 1, 7, 64, 0 })
                foreach (int block in new[] { 1, 5, 16, 512 })
                {
                    var norms = new double[2][] { new double[X.Value.Rows], new double[y.Rows] };
                    var s = CkaEngine.CrossNormsSquared(layers, pairs, single, norms, chunk, block);
                    string what = $"single={single} chunk={chunk} block={block}";
                    AssertRelative(Expected(other, "linear"), CkaMath.Ratio(s[2], s[0], s[1], "x", "y"), Tol, what);
                    // Without row norms the float32 OpenBLAS path reads each input once (shifted, corrected at the end).
                    var once = CkaEngine.CrossNormsSquared(layers, pairs, single, null, chunk, block);
                    AssertRelative(Expected(other, "linear"), CkaMath.Ratio(once[2], once[0], once[1], "x", "y"), Tol, what + " one pass");
                    if (single) continue;
                    int n = X.Value.Rows;
                    double deb = CkaMath.Ratio(CkaMath.LinearHsic1FromParts(s[2], norms[0], norms[1], n),
                        CkaMath.LinearHsic1FromParts(s[0], norms[0], norms[0], n), CkaMath.LinearHsic1FromParts(s[1], norms[1], norms[1], n), "x", "y");
                    AssertRelative(Expected(other, "linear_debiased"), deb, Tol, what + " debiased");
                }
    }

    [Fact]
    public void BlockedSymmetricNormsEqualThePlainFormulaForAnyPairSet()
    {
        var rng = new Random(3);
        var layers = new[] { 9, 4, 13 }.Select(d =>
        {
            var m = new Matrix(37, d);
            for (int i = 0; i < m.Data.Length; i++) m.Data[i] = (float)(rng.NextDouble() * 2 + (i % d));
            return m;
        }).ToArray();
        var centred = layers.Select(CkaMath.CentredColumns).ToArray();
        // A cross table's pairs: diagonals plus row-vs-column only (no (0, 1)), so runs are not contiguous.
        (int P, int Q)[] pairs = [(0, 0), (2, 2), (0, 2), (1, 1), (1, 2)];
        foreach (int chunk in new[] { 1, 5, 36, 37, 100 })
            foreach (int block in new[] { 1, 3, 4, 100 })
            {
                var s = CkaEngine.CrossNormsSquared(layers, pairs, single: false, chunkRows: chunk, blockCols: block);
                for (int k = 0; k < pairs.Length; k++)
                {
                    var (p, q) = pairs[k];
                    double plain = CkaMath.CrossNormSquared(centred[p], layers[p].Cols, centred[q], layers[q].Cols, 37);
                    AssertRelative(plain, s[k], 1e-10, $"pair {p},{q} chunk {chunk} block {block}");
                }
            }
    }

    /// <summary>
    /// On OpenBLAS consecutive chunks' float32 products sum in place (beta = 1) over at most BlasFloatRows rows before
    /// each group is added to the double accumulator. With more rows than that, chunk sizes that make groups of many
    /// chunks, of several and of one, and a last group cut short must each give the plain double formula's squared
    /// norms (a group counted twice or dropped would be off by its share of the rows).
    /// </summary>
    [Fact]
    public void FloatProductsSumOverGroupsOfChunks()
    {
        var rng = new Random(9);
        int n = CkaEngine.BlasFloatRows + 3_617;
        var layers = new[] { 3, 5 }.Select(d =>
        {
            var m = new Matrix(n, d);
            for (int i = 0; i < m.Data.Length; i++) m.Data[i] = (float)(rng.NextDouble() * 2 - 0.5 + (i % d));
            return m;
        }).ToArray();
        var centred = layers.Select(CkaMath.CentredColumns).ToArray();
        (int P, int Q)[] pairs = [(0, 0), (1, 1), (0, 1)];
        foreach (int chunk in new[] { 7, 4096, 5000, CkaEngine.BlasFloatRows, 0 })
            foreach (bool norms in new[] { false, true })
            {
                var rowNorms = norms ? new double[2][] { new double[n], new double[n] } : null;
                var s = CkaEngine.CrossNormsSquared(layers, pairs, single: true, rowNormsSquared: rowNorms, chunkRows: chunk);
                for (int k = 0; k < pairs.Length; k++)
                {
                    var (p, q) = pairs[k];
                    double plain = CkaMath.CrossNormSquared(centred[p], layers[p].Cols, centred[q], layers[q].Cols, n);
                    AssertRelative(plain, s[k], 1e-5, $"pair {p},{q} chunk {chunk} row norms {norms}");
                }
            }
    }

    /// <summary>
    /// The one-pass float32 path shifts each layer by its first chunk's mean and corrects to the exact mean at the
    /// end: on columns whose mean is 10,000 times their spread (where summing uncentred products in float32 would
    /// lose every digit) and whose later chunks drift away from the first chunk's mean, each squared norm must still
    /// equal the plain double formula to float32 accuracy.
    /// </summary>
    [Fact]
    public void OnePassShiftKeepsAccuracyOnLargeDriftingMeans()
    {
        var rng = new Random(5);
        int n = 300;
        var layers = new[] { 6, 11 }.Select(d =>
        {
            var m = new Matrix(n, d);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < d; j++)
                    m.Data[i * d + j] = (float)(1e4 * (j + 1) + (i > n / 2 ? 3 : 0) + rng.NextDouble() * 2);
            return m;
        }).ToArray();
        var centred = layers.Select(CkaMath.CentredColumns).ToArray();
        (int P, int Q)[] pairs = [(0, 0), (1, 1), (0, 1)];
        foreach (int chunk in new[] { 1, 17, 100, 0 })
        {
            var s = CkaEngine.CrossNormsSquared(layers, pairs, single: true, rowNormsSquared: null, chunkRows: chunk);
            for (int k = 0; k < pairs.Length; k++)
            {
                var (p, q) = pairs[k];
                double plain = CkaMath.CrossNormSquared(centred[p], layers[p].Cols, centred[q], layers[q].Cols, n);
                AssertRelative(plain, s[k], 1e-4, $"pair {p},{q} chunk {chunk}");
            }
        }
    }
}
