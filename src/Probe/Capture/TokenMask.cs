using Probe.Data;

namespace Probe.Capture;

/// <summary>
/// Which tokens of each sample are real and which are padding: the rows of a model input such as BERT's
/// <c>attention_mask</c> ([N, T]: 1 = real token, 0 = padding; int64, int32, bool or float), one row per sample of the
/// whole data set. A sequence site of T tokens ([T, D] per sample) is then pooled over each sample's real tokens only,
/// as PyTorch users pool: mean = sum(h * mask) / sum(mask) (sentence-transformers' mean pooling), max over the real
/// tokens, first and last = the first and last position where the mask is 1 (a decoder's last token, also under left
/// padding).
/// </summary>
public sealed class TokenMask
{
    readonly bool[] _real;
    readonly int[] _first, _last, _count;

    TokenMask(string input, int rows, int tokens, bool[] real)
    {
        Input = input;
        Rows = rows;
        Tokens = tokens;
        _real = real;
        _first = new int[rows];
        _last = new int[rows];
        _count = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            var row = Row(r);
            _first[r] = row.IndexOf(true);
            _last[r] = row.LastIndexOf(true);
            _count[r] = row.Length - row.Count(false);
        }
    }

    /// <summary>The model input the mask was read from (<c>attention_mask</c>).</summary>
    public string Input { get; }

    /// <summary>The number of samples (rows) the mask has: the whole data set's.</summary>
    public int Rows { get; }

    /// <summary>T, the tokens per sample: sequence sites of T tokens are pooled with the mask.</summary>
    public int Tokens { get; }

    /// <summary>
    /// Reads a mask from the array given for model input <paramref name="input"/>: it must be [N, T] and hold only 0
    /// and 1 (any numeric type or bool).
    /// </summary>
    public static TokenMask From(string input, NpyArray array)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(array);
        if (array.Shape.Length != 2 || array.Shape[1] < 1)
            throw new ProbeException($"The token mask '{input}' has shape [{string.Join(", ", array.Shape)}]; it must be [N, T]: one row of T tokens per sample (1 = real token, 0 = padding), as an attention mask is.");
        int rows = array.Shape[0], tokens = array.Shape[1];
        var real = new bool[(long)rows * tokens];
        for (long i = 0; i < real.LongLength; i++)
        {
            double v = array.GetDouble(i);
            if (v != 0 && v != 1)
                throw new ProbeException($"The token mask '{input}' holds {v.ToString(System.Globalization.CultureInfo.InvariantCulture)} at sample {i / tokens}, token {i % tokens}; it must hold only 1 (a real token) and 0 (padding).");
            real[i] = v == 1;
        }
        return new TokenMask(input, rows, tokens, real);
    }

    /// <summary>
    /// The file a capture folder keeps the mask rows of its samples in (<c>probe capture --token-mask</c>): float32
    /// [N, T], 1 = real token, 0 = padding, row k for the folder's row k. <c>layers.json</c> names it (<c>tokenMaskFile</c>).
    /// </summary>
    public const string FileName = "token_mask.npy";

    /// <summary>The mask rows of samples <paramref name="rows"/> (rows of the whole data set), as float32 [rows, T] of 1 and 0.</summary>
    public Matrix RowsOf(IReadOnlyList<int> rows)
    {
        var m = new Matrix(rows.Count, Tokens);
        for (int r = 0; r < rows.Count; r++)
        {
            var real = Row(rows[r]);
            var into = m.Row(r);
            for (int t = 0; t < Tokens; t++) into[t] = real[t] ? 1 : 0;
        }
        return m;
    }

    /// <summary>
    /// A reader of site <paramref name="site"/>'s token-major rows (T x D per sample) that hands <paramref name="reader"/>
    /// one sample at a time, holding only its real tokens (k x D values for k real tokens); <paramref name="rowOf"/>(r)
    /// is the mask row of the batch's sample r. What a study reads of a masked sequence site.
    /// </summary>
    internal SiteReader RealTokensOnly(string site, SiteReader reader, Func<int, int> rowOf)
    {
        float[] scratch = [];
        return (rows, count, cols) =>
        {
            if (cols % Tokens != 0)
                throw new ProbeException($"Site '{site}' gives {cols} values per sample, which are not {Tokens} tokens of the token mask '{Input}'.");
            if (scratch.Length < cols) scratch = new float[cols];
            long bad = 0;
            for (int r = 0; r < count; r++)
            {
                int n = CopyRealTokens(rowOf(r), rows.Slice(r * cols, cols), scratch);
                bad += reader(scratch.AsSpan(0, n), 1, n);
            }
            return bad;
        };
    }

    /// <summary>Which tokens of sample <paramref name="row"/> (a row of the whole data set) are real.</summary>
    public ReadOnlySpan<bool> Row(int row) => _real.AsSpan(row * Tokens, Tokens);

    /// <summary>The number of real tokens of sample <paramref name="row"/>.</summary>
    public int RealTokens(int row) => _count[row];

    /// <summary>Whether a site of per-sample shape <paramref name="shape"/> laid out by <paramref name="layoutOrType"/> is a sequence of this mask's T tokens.</summary>
    public bool Covers(string layoutOrType, int[]? shape) => SiteLayout.TokensLast(layoutOrType, shape) && shape![0] == Tokens;

    /// <summary>Refuses sample <paramref name="row"/> when it has no real token: there is nothing to pool or judge.</summary>
    public void CheckHasTokens(int row)
    {
        if (row < 0 || row >= Rows)
            throw new ProbeException($"The token mask '{Input}' has {Rows} rows but the data set has a sample {row}: give it one row per sample of the whole data set, in the data set's order.");
        if (_count[row] == 0)
            throw new ProbeException($"Sample {row} has no real token: its row of the token mask '{Input}' is all 0 (padding), so there is nothing to pool. Leave the sample out, or check the mask (1 = real token, 0 = padding).");
    }

    /// <summary>
    /// Pools sample <paramref name="row"/>'s token-major values <paramref name="x"/> (T x D) into <paramref name="into"/>
    /// (D) over its real tokens: mean (summed in double), max (NaN wins, as libtorch's amax), first or last real token.
    /// </summary>
    public void Pool(int row, ReadOnlySpan<float> x, MapReduction how, Span<float> into) =>
        Pool(x, Row(row), _first[row], _last[row], _count[row], how, into);

    /// <summary>
    /// Pools token-major <paramref name="x"/> (T x D, D = <paramref name="into"/>'s length) over the tokens
    /// <paramref name="real"/> marks (every token when it is empty), the first and last of which are
    /// <paramref name="first"/> and <paramref name="last"/>, <paramref name="count"/> in all: what
    /// <see cref="SiteRows.Reduce"/> does to a sequence with every token real.
    /// </summary>
    internal static void Pool(ReadOnlySpan<float> x, ReadOnlySpan<bool> real, int first, int last, int count, MapReduction how, Span<float> into)
    {
        int d = into.Length, tokens = x.Length / Math.Max(d, 1);
        bool all = real.IsEmpty;
        switch (how)
        {
            case MapReduction.First: x.Slice(first * d, d).CopyTo(into); return;
            case MapReduction.Last: x.Slice(last * d, d).CopyTo(into); return;
            case MapReduction.Mean:
                {
                    Span<double> acc = d <= 4096 ? stackalloc double[d] : new double[d];
                    acc.Clear();
                    for (int t = 0; t < tokens; t++)
                    {
                        if (!all && !real[t]) continue;
                        var tok = x.Slice(t * d, d);
                        for (int j = 0; j < d; j++) acc[j] += tok[j];
                    }
                    for (int j = 0; j < d; j++) into[j] = (float)(acc[j] / count);
                    return;
                }
            case MapReduction.Max:
                {
                    x.Slice(first * d, d).CopyTo(into);
                    for (int t = first + 1; t < tokens; t++)
                    {
                        if (!all && !real[t]) continue;
                        var tok = x.Slice(t * d, d);
                        for (int j = 0; j < d; j++) if (tok[j] > into[j] || float.IsNaN(tok[j])) into[j] = tok[j];
                    }
                    return;
                }
            default:
                throw new ProbeException($"Reduction {how} does not pool tokens; flatten keeps every value.");
        }
    }

    /// <summary>
    /// Copies sample <paramref name="row"/>'s real tokens of token-major <paramref name="x"/> (T x D, D =
    /// <paramref name="x"/>'s length / T) into <paramref name="into"/>, in order; returns how many values it wrote.
    /// </summary>
    public int CopyRealTokens(int row, ReadOnlySpan<float> x, Span<float> into)
    {
        int d = x.Length / Tokens, n = 0;
        var real = Row(row);
        for (int t = 0; t < Tokens; t++)
            if (real[t]) { x.Slice(t * d, d).CopyTo(into[n..]); n += d; }
        return n;
    }
}
