namespace Probe.Data;

/// <summary>Checks that a data set's samples have the layout a model takes.</summary>
public static class DataLayout
{
    /// <summary>
    /// Throws a <see cref="ProbeException"/> when <paramref name="data"/>'s samples cannot be what a model taking
    /// <paramref name="modelInputShape"/> expects: samples that look channels-last (shape [H, W, C] with C = 1 or 3)
    /// where the model takes [C, H, W] (the message suggests layout=nhwc), or samples whose number of values differs
    /// from the model's. <paramref name="modelInputShape"/> is one sample's shape; a leading batch axis is dropped when
    /// the shape has one more axis than the samples. Sizes of 0 or less are dynamic and match anything. Samples with
    /// the same number of values in another shape (a flat [784] for [1, 28, 28]) pass: that is a plain reshape.
    /// </summary>
    public static void CheckAgainstModel(IDataset data, int[] modelInputShape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(modelInputShape);
        var s = data.SampleShape;
        var m = modelInputShape;
        if (m.Length == s.Length + 1) m = m[1..];
        string S(int[] a) => "[" + string.Join(", ", a.Select(d => d <= 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";
        bool Match(int[] a, int[] b) => a.Length == b.Length && a.Zip(b).All(p => p.First <= 0 || p.Second <= 0 || p.First == p.Second);
        if (Match(s, m)) return;
        if (s.Length == 3 && m.Length == 3 && s[2] is (1 or 3) && Match([s[2], s[0], s[1]], m))
            throw new ProbeException($"Data set '{data.Name}' has samples of shape {S(s)}, which looks channels-last (H, W, C), but the model takes {S(m)} (channels first). Add layout=nhwc to the data spec (as in npy:X.npy?layout=nhwc) to transpose each batch; Probe never reshapes silently.");
        if (m.Any(d => d <= 0)) return;
        long ps = s.Aggregate(1L, (a, d) => a * d), pm = m.Aggregate(1L, (a, d) => a * d);
        if (ps != pm)
            throw new ProbeException($"Data set '{data.Name}' has samples of shape {S(s)} ({ps} values) but the model takes {S(m)} ({pm} values). Check the data spec (size=, crop=, gray, layout=) or the model.");
    }
}
