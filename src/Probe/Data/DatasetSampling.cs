namespace Probe.Data;

/// <summary>Seeded sub-sampling of a data set (for analyses that cost O(n^2), such as CKA or t-SNE).</summary>
public static class DatasetSampling
{
    /// <summary>
    /// At most <paramref name="maxSamples"/> row indices, in increasing (data) order. When <paramref name="stratified"/>
    /// and the data set has labels, each class keeps a share proportional to its size (largest-remainder rounding,
    /// ties to the lower class); otherwise rows are drawn uniformly without replacement. All rows when the data set
    /// is no larger than <paramref name="maxSamples"/>. The same seed gives the same indices.
    /// </summary>
    public static int[] SampleIndices(this IDataset data, int maxSamples, int seed, bool stratified = true)
    {
        if (maxSamples < 1) throw new ProbeException($"The number of samples to keep must be at least 1, got {maxSamples}.");
        int n = data.Count;
        if (n <= maxSamples) return Enumerable.Range(0, n).ToArray();
        if (!stratified || data.Labels == null) return UniformIndices(n, maxSamples, seed);
        var rng = new Random(seed);
        var labels = data.Labels;
        int classes = labels.Max() + 1;
        var members = new List<int>[classes];
        for (int c = 0; c < classes; c++) members[c] = [];
        for (int i = 0; i < n; i++)
        {
            if (labels[i] < 0) throw new ProbeException($"Data set '{data.Name}': label {labels[i]} at row {i} is negative.");
            members[labels[i]].Add(i);
        }
        var quota = new int[classes];
        var remainder = new double[classes];
        int assigned = 0;
        for (int c = 0; c < classes; c++)
        {
            double exact = (double)maxSamples * members[c].Count / n;
            quota[c] = (int)Math.Floor(exact);
            remainder[c] = exact - quota[c];
            assigned += quota[c];
        }
        foreach (var c in Enumerable.Range(0, classes).OrderByDescending(c => remainder[c]).ThenBy(c => c))
        {
            if (assigned >= maxSamples) break;
            if (quota[c] < members[c].Count) { quota[c]++; assigned++; }
        }
        var chosen = new List<int>();
        for (int c = 0; c < classes; c++)
            chosen.AddRange(PickWithoutReplacement(members[c].ToArray(), quota[c], rng));
        var result = chosen.ToArray();
        Array.Sort(result);
        return result;
    }

    /// <summary>The sub-sample chosen by <see cref="SampleIndices"/> as a data set (rows in data order).</summary>
    public static Dataset Sample(this Dataset data, int maxSamples, int seed, bool stratified = true) =>
        data.Count <= maxSamples ? data : data.Subset(data.SampleIndices(maxSamples, seed, stratified));

    /// <summary>
    /// <paramref name="k"/> of the rows 0..<paramref name="count"/>-1 drawn uniformly without replacement with
    /// <paramref name="seed"/>, in increasing order. The one uniform sampler: capture's sample cap uses it too, so the
    /// same seed picks the same rows everywhere.
    /// </summary>
    public static int[] UniformIndices(int count, int k, int seed)
    {
        var result = PickWithoutReplacement(Enumerable.Range(0, count).ToArray(), Math.Min(k, count), new Random(seed)).ToArray();
        Array.Sort(result);
        return result;
    }

    static List<int> PickWithoutReplacement(int[] pool, int k, Random rng)
    {
        // Partial Fisher-Yates: the first k slots end up a uniform random k-subset.
        for (int i = 0; i < k; i++)
        {
            int j = i + rng.Next(pool.Length - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        return pool.Take(k).ToList();
    }
}
