using System.Globalization;

namespace Probe.Data;

/// <summary>
/// A data set named by a one-line spec, as the CLI takes it: <c>digits</c>, <c>fashion-mnist[?split=test]</c>,
/// <c>idx:DIR[?split=train|test]</c>, <c>csv:FILE[?label=last&amp;header=auto]</c>, <c>npy:X.npy[,y.npy]</c>,
/// <c>npz:FILE[?x=KEY&amp;y=KEY]</c>, <c>cifar:DIR[?split=train|test]</c>, <c>images:DIR[?on-error=stop|skip]</c>,
/// <c>synthetic:KIND[?n=..&amp;noise=..&amp;seed=..]</c>. Every kind also takes the transform options of
/// <see cref="DataTransform"/> (<c>gray</c>, <c>size=</c>, <c>crop=</c>, <c>scale=</c>, <c>preset=imagenet</c>,
/// <c>norm=imagenet</c>, <c>mean=</c>, <c>std=</c>), and npy/npz take <c>layout=nchw|nhwc</c>.
/// <see cref="ToString"/> gives the canonical spec (the kind's own parameters spelled out with their defaults, then
/// the options that were given, in a fixed order), which parses back to an equal source.
/// </summary>
public sealed class DataSource
{
    /// <summary>The scheme: digits, fashion-mnist, idx, csv, npy, npz, cifar, images or synthetic.</summary>
    public string Scheme { get; }
    /// <summary>The path (idx, csv, npy features, npz, cifar, images) or the generator name (synthetic); null for digits and fashion-mnist.</summary>
    public string? Target { get; }
    /// <summary>The labels file of an npy source, if any.</summary>
    public string? LabelsPath { get; }
    /// <summary>Every parameter of the source with its value (own parameters with defaults filled in, then the options given), in canonical order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; }
    /// <summary>The transform applied to every sample.</summary>
    public DataTransform Transform { get; }
    /// <summary>The stated layout of an npy/npz array.</summary>
    public ArrayLayout Layout { get; }

    DataSource(string scheme, string? target, string? labelsPath, IReadOnlyList<KeyValuePair<string, string>> parameters, DataTransform transform, ArrayLayout layout)
    {
        Scheme = scheme; Target = target; LabelsPath = labelsPath; Parameters = parameters; Transform = transform; Layout = layout;
    }

    /// <summary>The valid synthetic generators.</summary>
    public static readonly IReadOnlyList<string> SyntheticKinds = ["xor", "xor-clouds", "gaussians", "circles", "spirals", "blobs"];

    const string Forms = "digits, fashion-mnist[?split=train|test], idx:DIR[?split=train|test], csv:FILE[?label=last|first|none|NAME|INDEX&header=auto|yes|no], npy:X.npy[,y.npy][?layout=nchw|nhwc], npz:FILE[?x=KEY&y=KEY&layout=nchw|nhwc], cifar:DIR[?split=train|test], images:DIR[?on-error=stop|skip], synthetic:KIND[?n=N&noise=X&seed=S] (KIND: xor, xor-clouds, gaussians, circles, spirals, blobs; gaussians also dims=, blobs also classes= and dims=); every kind also takes gray, size=N, crop=N, scale=X, mean=M[,M,M], std=S[,S,S], norm=imagenet, preset=imagenet";

    /// <summary>Parameter names and defaults per scheme (synthetic: per generator), in canonical order.</summary>
    static (string Name, string Default)[] ParameterTable(string scheme, string? kind) => (scheme, kind) switch
    {
        ("digits", _) => [],
        ("npy", _) => [],
        ("fashion-mnist", _) or ("idx", _) or ("cifar", _) => [("split", "train")],
        ("csv", _) => [("label", "last"), ("header", "auto")],
        ("npz", _) => [("x", "auto"), ("y", "auto")],
        ("images", _) => [("on-error", "stop")],
        ("synthetic", "xor") => [],
        ("synthetic", "xor-clouds") => [("n", "400"), ("noise", "0.15"), ("seed", "0")],
        ("synthetic", "gaussians") => [("n", "400"), ("dims", "2"), ("noise", "0.5"), ("seed", "0")],
        ("synthetic", "circles") => [("n", "400"), ("noise", "0.05"), ("seed", "0")],
        ("synthetic", "spirals") => [("n", "400"), ("noise", "0.05"), ("seed", "0")],
        ("synthetic", "blobs") => [("n", "600"), ("classes", "3"), ("dims", "2"), ("noise", "1"), ("seed", "0")],
        _ => throw new InvalidOperationException(),
    };

    static bool TakesLayout(string scheme) => scheme is "npy" or "npz";

    /// <summary>Parses a spec; unknown schemes, generators or parameters are errors that list the valid ones.</summary>
    public static DataSource Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new ProbeException($"Empty data source; valid forms: {Forms}.");
        spec = spec.Trim();
        int colon = spec.IndexOf(':');
        int q = spec.LastIndexOf('?');
        if (q >= 0 && colon > q) colon = -1;
        int schemeEnd = colon >= 0 ? colon : (q >= 0 ? q : spec.Length);
        string scheme = spec[..schemeEnd].Trim().ToLowerInvariant();
        string? target = colon >= 0 ? spec[(colon + 1)..(q > colon ? q : spec.Length)].Trim() : null;
        string query = q >= 0 ? spec[(q + 1)..] : "";

        string? labels = null;
        switch (scheme)
        {
            case "digits" or "fashion-mnist":
                if (target != null) throw new ProbeException($"Data source '{scheme}' takes no path (got '{spec}'); valid forms: {Forms}.");
                break;
            case "idx" or "csv" or "npy" or "npz" or "cifar" or "images":
                if (string.IsNullOrEmpty(target)) throw new ProbeException($"Data source '{scheme}' needs a path, as in {scheme}:{scheme switch { "idx" or "cifar" or "images" => "DIR", "csv" => "FILE.csv", "npz" => "FILE.npz", _ => "X.npy[,y.npy]" }}.");
                if (scheme == "npy")
                {
                    var parts = target.Split(',');
                    if (parts.Length > 2 || parts.Any(p => p.Trim().Length == 0))
                        throw new ProbeException($"Data source 'npy' takes npy:X.npy or npy:X.npy,y.npy; got '{spec}'.");
                    target = parts[0].Trim();
                    labels = parts.Length == 2 ? parts[1].Trim() : null;
                }
                break;
            case "synthetic":
                target = target?.ToLowerInvariant();
                if (string.IsNullOrEmpty(target) || !SyntheticKinds.Contains(target))
                    throw new ProbeException($"Unknown synthetic data set '{target}'; valid: {string.Join(", ", SyntheticKinds)} (as in synthetic:spirals?n=2000&seed=1).");
                break;
            default:
                throw new ProbeException($"Unknown data source '{scheme}' in '{spec}'; valid forms: {Forms}.");
        }

        var table = ParameterTable(scheme, target);
        var given = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            string key, value;
            if (eq < 0 && pair.Trim().Equals("gray", StringComparison.OrdinalIgnoreCase)) { key = "gray"; value = ""; }
            else if (eq <= 0) throw new ProbeException($"Data source parameter '{pair}' in '{spec}' is not of the form name=value.");
            else { key = pair[..eq].Trim().ToLowerInvariant(); value = pair[(eq + 1)..].Trim(); }
            bool known = table.Any(t => t.Name == key) || DataTransform.OptionNames.Contains(key) || (key == "layout" && TakesLayout(scheme));
            if (!known)
            {
                string extras = $"the transforms {string.Join(", ", DataTransform.OptionNames)}{(TakesLayout(scheme) ? " and layout" : "")}";
                throw new ProbeException(table.Length == 0
                    ? $"Data source '{Describe(scheme, target)}' takes no parameters of its own, got '{key}'; every source takes {extras}."
                    : $"Unknown parameter '{key}' for data source '{Describe(scheme, target)}'; valid: {string.Join(", ", table.Select(t => t.Name))} (and {extras}).");
            }
            if (!given.TryAdd(key, value)) throw new ProbeException($"Parameter '{key}' is given twice in '{spec}'.");
        }
        var parameters = table.Select(t => new KeyValuePair<string, string>(t.Name, Normalize(scheme, t.Name, given.GetValueOrDefault(t.Name, t.Default)))).ToList();
        var layout = ArrayLayout.AsStored;
        if (given.TryGetValue("layout", out var lv))
        {
            layout = lv.ToLowerInvariant() switch
            {
                "nchw" => ArrayLayout.Nchw,
                "nhwc" => ArrayLayout.Nhwc,
                _ => throw new ProbeException($"Parameter layout must be nchw (channels first, as stored) or nhwc (channels last: transposed per batch), got '{lv}'."),
            };
            parameters.Add(new("layout", layout == ArrayLayout.Nhwc ? "nhwc" : "nchw"));
        }
        var transform = DataTransform.None;
        foreach (var name in DataTransform.OptionNames)
        {
            if (!given.TryGetValue(name, out var v)) continue;
            (transform, string canonical) = transform.With(name, v);
            if (name == "gray" && canonical == "no") continue;
            if (name is "preset" or "norm" && canonical == "none") continue;
            parameters.Add(new(name, canonical));
        }
        return new DataSource(scheme, target, labels, parameters, transform, layout);
    }

    static string Describe(string scheme, string? target) => scheme == "synthetic" ? $"synthetic:{target}" : scheme;

    static string Normalize(string scheme, string name, string value)
    {
        var inv = CultureInfo.InvariantCulture;
        switch (name)
        {
            case "split":
                var s = value.ToLowerInvariant();
                return s is "train" or "test" ? s : throw new ProbeException($"Parameter split must be train or test, got '{value}'.");
            case "header":
                return value.ToLowerInvariant() switch
                {
                    "auto" => "auto",
                    "yes" or "true" or "1" => "yes",
                    "no" or "false" or "0" => "no",
                    _ => throw new ProbeException($"Parameter header must be auto, yes or no, got '{value}'."),
                };
            case "on-error":
                var oe = value.ToLowerInvariant();
                return oe is "stop" or "skip" ? oe : throw new ProbeException($"Parameter on-error must be stop (an unreadable image stops with its path) or skip (unreadable images are left out and listed), got '{value}'.");
            case "x" or "y":
                return value.Length > 0 ? value : throw new ProbeException($"Parameter {name} of npz needs an array name (auto{(name == "y" ? ", none" : "")} or a key of the archive).");
            case "label":
                return value.Length > 0 ? value : throw new ProbeException("Parameter label needs a value (last, first, none, a column name or a 0-based index).");
            case "n" or "classes" or "dims":
                if (!int.TryParse(value, NumberStyles.Integer, inv, out int k) || k < 1)
                    throw new ProbeException($"Parameter {name} of {scheme} must be a whole number of 1 or more, got '{value}'.");
                return k.ToString(inv);
            case "seed":
                if (!int.TryParse(value, NumberStyles.Integer, inv, out int seed))
                    throw new ProbeException($"Parameter seed must be a whole number, got '{value}'.");
                return seed.ToString(inv);
            case "noise":
                if (!double.TryParse(value, NumberStyles.Float, inv, out double x) || !double.IsFinite(x) || x < 0)
                    throw new ProbeException($"Parameter noise must be a finite number of 0 or more, got '{value}'.");
                return x.ToString("R", inv);
            default:
                return value;
        }
    }

    string Get(string name) => Parameters.First(p => p.Key == name).Value;
    int GetInt(string name) => int.Parse(Get(name), CultureInfo.InvariantCulture);
    double GetDouble(string name) => double.Parse(Get(name), CultureInfo.InvariantCulture);

    /// <summary>
    /// Opens the data set as a stream of batches with the transform applied. Files, folders and arrays are read per
    /// batch (npy/npz memory-mapped, CIFAR by positioned reads, images decoded per batch); digits, csv and synthetic
    /// sets are small and held in memory. Dispose the result when it is <see cref="IDisposable"/>.
    /// </summary>
    public IDataset Open()
    {
        var t = Transform;
        IDataset Wrap(Dataset d) => t.IsNone ? d : new TransformedDataset(d, t);
        return Scheme switch
        {
            "digits" => Wrap(Datasets.Digits()),
            "fashion-mnist" => Datasets.OpenFashionMnist(Datasets.FashionMnistDirectory, Get("split") == "train", t),
            "idx" => Datasets.OpenIdxDirectory(Target!, Get("split") == "train", t),
            "csv" => Wrap(Csv.Read(Target!, Get("label"), Get("header") switch { "yes" => true, "no" => false, _ => null })),
            "npy" => NpyDatasets.OpenNpy(Target!, LabelsPath, t, Layout),
            "npz" => NpyDatasets.OpenNpz(Target!, Get("x"), Get("y"), t, Layout),
            "cifar" => Cifar.Open(Target!, Get("split") == "train", t),
            "images" => ImageFolderDataset.Open(Target!, t, Get("on-error") == "skip" ? ImageErrorPolicy.Skip : ImageErrorPolicy.Stop),
            "synthetic" => Wrap(Target switch
            {
                "xor" => Synthetic.Xor(),
                "xor-clouds" => Synthetic.XorClouds(GetInt("n"), GetDouble("noise"), GetInt("seed")),
                "gaussians" => Synthetic.Gaussians(GetInt("n"), GetDouble("noise"), GetInt("seed"), GetInt("dims")),
                "circles" => Synthetic.Circles(GetInt("n"), GetDouble("noise"), GetInt("seed")),
                "spirals" => Synthetic.Spirals(GetInt("n"), GetDouble("noise"), GetInt("seed")),
                "blobs" => Synthetic.Blobs(GetInt("n"), GetInt("classes"), GetInt("dims"), GetDouble("noise"), GetInt("seed")),
                _ => throw new InvalidOperationException(),
            }),
            _ => throw new InvalidOperationException(),
        };
    }

    /// <summary>Loads the whole data set into memory (<see cref="Open"/> then <see cref="DatasetExtensions.ToMemory"/>): only for sets that fit.</summary>
    public Dataset Load()
    {
        var d = Open();
        try { return d.ToMemory(); }
        finally { (d as IDisposable)?.Dispose(); }
    }

    internal static Dataset LoadFashionMnist(string dir, bool train)
    {
        using var d = Datasets.OpenFashionMnist(dir, train, DataTransform.None);
        return d.ToMemory();
    }

    /// <summary>The canonical spec.</summary>
    public override string ToString()
    {
        string head = Scheme switch
        {
            "digits" or "fashion-mnist" => Scheme,
            "npy" => LabelsPath == null ? $"npy:{Target}" : $"npy:{Target},{LabelsPath}",
            _ => $"{Scheme}:{Target}",
        };
        return Parameters.Count == 0 ? head : head + "?" + string.Join("&", Parameters.Select(p => p.Key == "gray" && p.Value.Length == 0 ? "gray" : $"{p.Key}={p.Value}"));
    }

    public override bool Equals(object? obj) => obj is DataSource other && other.ToString() == ToString();
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToString());
}
