using System.Globalization;

namespace Probe.Similarity;

/// <summary>
/// One value of a similarity measure between two representations of the same samples. <see cref="Value"/> is the
/// measure's headline number (for Procrustes: the similarity); <see cref="Details"/> holds any further values the
/// measure defines (Procrustes: similarity, distance, angular), keyed by name.
/// </summary>
public sealed record SimilarityScore(string Measure, double Value, IReadOnlyDictionary<string, double> Details)
{
    /// <summary>Why the value says less than it seems to, when it does (see <see cref="SimilarityMeasure.Caveat"/>); null otherwise.</summary>
    public string? Caveat { get; init; }

    internal static readonly IReadOnlyDictionary<string, double> None = new SortedDictionary<string, double>(StringComparer.Ordinal);
}

/// <summary>
/// A layer-by-layer table of one measure: <see cref="Values"/>[i][j] compares <see cref="RowLayers"/>[i] (the first
/// argument) with <see cref="ColLayers"/>[j] (the second). <see cref="Min"/> and <see cref="Max"/> bound the values
/// the measure can take (a heatmap's colour range).
/// </summary>
public sealed record SimilarityTable(string Measure, string[] RowLayers, string[] ColLayers, double[][] Values, double Min, double Max)
{
    /// <summary>The pairs whose values say less than they seem to, each with the reason (see <see cref="SimilarityMeasure.Caveat"/>).</summary>
    public IReadOnlyList<string> Caveats { get; init; } = [];

    /// <summary>The value for a pair of layer names.</summary>
    public double this[string row, string col]
    {
        get
        {
            int i = Array.IndexOf(RowLayers, row), j = Array.IndexOf(ColLayers, col);
            if (i < 0 || j < 0) throw new ProbeException($"No {Measure} value for ({row}, {col}): rows are [{string.Join(", ", RowLayers)}], columns [{string.Join(", ", ColLayers)}].");
            return Values[i][j];
        }
    }
}

/// <summary>
/// A similarity measure between two representations of the same samples (rows = samples, columns = units).
/// Settings only: <see cref="Compute"/> compares two matrices, <see cref="AllPairs"/> and <see cref="Cross"/> compare
/// lists of layers, preparing each layer (centring, SVD, neighbour lists, RDM ranks) once. The measures and their
/// definitions: <see cref="SimilarityMath"/>. <see cref="Parse"/> turns a CLI name into a measure.
/// </summary>
public abstract record SimilarityMeasure
{
    /// <summary>The CLI name, e.g. "svcca".</summary>
    public abstract string Name { get; }

    /// <summary>A short description with the settings, e.g. "SVCCA (keep 99% of the variance)".</summary>
    public abstract string Description { get; }

    /// <summary>Whether measure(x, y) = measure(y, x).</summary>
    public virtual bool IsSymmetric => true;

    /// <summary>The range of values (for colour bars): [0, 1] unless stated.</summary>
    public virtual (double Min, double Max) Range => (0, 1);

    /// <summary>The fewest samples (rows) the measure is defined for.</summary>
    public virtual int MinSamples => 2;

    /// <summary>Everything the measure needs of one matrix, computed once (checked: finite, non-empty).</summary>
    internal abstract object Prepare(Matrix x, string what);

    /// <summary>The measure between two prepared matrices of the same samples.</summary>
    internal abstract SimilarityScore Compare(object x, object y, string xWhat, string yWhat);

    /// <summary>
    /// Why the measure between two prepared matrices says less than it seems to, or null: the CCA family and linear
    /// regression fit one side's directions to the other's, and when the two span more directions together than the
    /// centred samples have (n - 1), some canonical correlations are 1 whatever the data.
    /// </summary>
    internal virtual string? Caveat(object x, object y, string xWhat, string yWhat) => null;

    /// <summary>The measure between two representations of the same samples.</summary>
    public SimilarityScore Compute(Matrix x, Matrix y)
    {
        CheckPair(x, y, "the first matrix", "the second matrix");
        var (a, b) = (Prepare(x, "the first matrix"), Prepare(y, "the second matrix"));
        return Compare(a, b, "the first matrix", "the second matrix") with { Caveat = Caveat(a, b, "the first matrix", "the second matrix") };
    }

    /// <summary>The headline value of <see cref="Compute"/>.</summary>
    public double Value(Matrix x, Matrix y) => Compute(x, y).Value;

    /// <summary>
    /// The measure between every pair of the given layers (same samples): Values[i][j] = measure(layer i, layer j).
    /// Symmetric measures compute the upper triangle and mirror it. <paramref name="progress"/> hears (pairs done,
    /// pairs in all) after each pair; <paramref name="cancel"/> is checked between pairs.
    /// </summary>
    public virtual SimilarityTable AllPairs(IReadOnlyList<(string Name, Matrix Acts)> layers, Action<long, long>? progress = null, CancellationToken cancel = default)
    {
        var (names, prepared) = PrepareAll(layers, "layer", cancel);
        int count = names.Length;
        var values = new double[count][];
        for (int i = 0; i < count; i++) values[i] = new double[count];
        long total = IsSymmetric ? (long)count * (count + 1) / 2 : (long)count * count, done = 0;
        var caveats = new List<string>();
        for (int i = 0; i < count; i++)
            for (int j = IsSymmetric ? i : 0; j < count; j++)
            {
                cancel.ThrowIfCancellationRequested();
                double v = Compare(prepared[i], prepared[j], Quote(names[i]), Quote(names[j])).Value;
                values[i][j] = v;
                if (IsSymmetric) values[j][i] = v;
                if (i != j && Caveat(prepared[i], prepared[j], Quote(names[i]), Quote(names[j])) is string c) caveats.Add(c);
                progress?.Invoke(++done, total);
            }
        return new SimilarityTable(Description, names, names, values, Range.Min, Range.Max) { Caveats = caveats };
    }

    /// <summary>
    /// The measure between every row layer (first argument) and every column layer (second), same samples;
    /// <paramref name="progress"/> and <paramref name="cancel"/> as in <see cref="AllPairs"/>.
    /// </summary>
    public virtual SimilarityTable Cross(IReadOnlyList<(string Name, Matrix Acts)> rowLayers, IReadOnlyList<(string Name, Matrix Acts)> colLayers,
                                         Action<long, long>? progress = null, CancellationToken cancel = default)
    {
        var (rowNames, rows) = PrepareAll(rowLayers, "row layer", cancel);
        var (colNames, cols) = PrepareAll(colLayers, "column layer", cancel);
        CheckSameRows(rowLayers[0].Acts, colLayers[0].Acts, "row " + Quote(rowNames[0]), "column " + Quote(colNames[0]));
        var values = new double[rows.Length][];
        long total = (long)rows.Length * cols.Length, done = 0;
        var caveats = new List<string>();
        for (int i = 0; i < rows.Length; i++)
        {
            values[i] = new double[cols.Length];
            for (int j = 0; j < cols.Length; j++)
            {
                cancel.ThrowIfCancellationRequested();
                values[i][j] = Compare(rows[i], cols[j], "row " + Quote(rowNames[i]), "column " + Quote(colNames[j])).Value;
                if (Caveat(rows[i], cols[j], "row " + Quote(rowNames[i]), "column " + Quote(colNames[j])) is string c) caveats.Add(c);
                progress?.Invoke(++done, total);
            }
        }
        return new SimilarityTable(Description, rowNames, colNames, values, Range.Min, Range.Max) { Caveats = caveats };
    }

    /// <summary>The measure names <see cref="Parse"/> knows.</summary>
    public static IReadOnlyList<string> Names { get; } = ["cka", "mean-cca", "svcca", "pwcca", "procrustes", "mutual-knn", "rsa", "linreg"];

    /// <summary>
    /// The measure called <paramref name="name"/> (see <see cref="Names"/>): <paramref name="k"/> is mutual k-NN's
    /// neighbour count, <paramref name="keep"/> SVCCA's fraction of variance kept.
    /// </summary>
    public static SimilarityMeasure Parse(string name, int k = MutualKnnMeasure.DefaultK, double keep = SvccaMeasure.DefaultKeep) =>
        (name ?? "").Trim().ToLowerInvariant() switch
        {
            "cka" => new CkaMeasure(),
            "mean-cca" => new MeanCcaMeasure(),
            "svcca" => new SvccaMeasure(keep),
            "pwcca" => new PwccaMeasure(),
            "procrustes" => new ProcrustesMeasure(),
            "mutual-knn" => new MutualKnnMeasure(k),
            "rsa" => new RsaMeasure(),
            "linreg" => new LinearRegressionMeasure(),
            _ => throw new ProbeException($"Unknown similarity measure '{name}'. Known measures: {string.Join(", ", Names)}."),
        };

    internal static string Quote(string name) => $"layer '{name}'";

    /// <summary>Checks that a matrix can enter a measure: non-empty, finite, enough rows.</summary>
    internal void Check(Matrix x, string what)
    {
        ArgumentNullException.ThrowIfNull(x);
        x.EnsureNotEmpty(what);
        x.EnsureFinite(what);
        if (x.Rows < MinSamples)
            throw new ProbeException($"{what} has {x.Rows} sample(s); {Name} needs at least {MinSamples}.");
    }

    internal void CheckPair(Matrix x, Matrix y, string xWhat, string yWhat)
    {
        Check(x, xWhat);
        Check(y, yWhat);
        CheckSameRows(x, y, xWhat, yWhat);
    }

    internal static void CheckSameRows(Matrix x, Matrix y, string xWhat, string yWhat)
    {
        if (x.Rows != y.Rows)
            throw new ProbeException($"{xWhat} has {x.Rows} samples but {yWhat} has {y.Rows} samples: a similarity measure compares two representations of the same samples, row by row.");
    }

    private (string[] Names, object[] Prepared) PrepareAll(IReadOnlyList<(string Name, Matrix Acts)> layers, string what, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0) throw new ProbeException($"No {what}s to compare.");
        var names = layers.Select(l => l.Name).ToArray();
        var dup = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ProbeException($"The {what} name '{dup.Key}' appears twice; give every layer its own name.");
        for (int i = 0; i < layers.Count; i++)
        {
            Check(layers[i].Acts, Quote(names[i]));
            CheckSameRows(layers[0].Acts, layers[i].Acts, Quote(names[0]), Quote(names[i]));
        }
        return (names, layers.Select((l, i) => { cancel.ThrowIfCancellationRequested(); return Prepare(l.Acts, Quote(names[i])); }).ToArray());
    }

    internal static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
