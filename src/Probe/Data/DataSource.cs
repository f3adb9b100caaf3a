using System.Globalization;

namespace Probe.Data;

/// <summary>
/// A data set named by a one-line spec, as the CLI takes it: <c>digits</c>, <c>fashion-mnist[?split=test]</c>,
/// <c>idx:DIR[?split=train|test]</c>, <c>csv:FILE[?label=last&amp;header=auto]</c>, <c>npy:X.npy[,y.npy]</c>,
/// <c>synthetic:KIND[?n=..&amp;noise=..&amp;seed=..]</c>. <see cref="ToString"/> gives the canonical spec (every
/// parameter spelled out, in a fixed order), which parses back to an equal source.
/// </summary>
public sealed class DataSource
{
    /// <summary>The scheme: digits, fashion-mnist, idx, csv, npy or synthetic.</summary>
    public string Scheme { get; }
    /// <summary>The path (idx, csv, npy features) or the generator name (synthetic); null for digits and fashion-mnist.</summary>
    public string? Target { get; }
    /// <summary>The labels file of an npy source, if any.</summary>
    public string? LabelsPath { get; }
    /// <summary>Every parameter of the source with its value (defaults filled in), in canonical order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Parameters { get; }

    DataSource(string scheme, string? target, string? labelsPath, IReadOnlyList<KeyValuePair<string, string>> parameters)
    {
        Scheme = scheme; Target = target; LabelsPath = labelsPath; Parameters = parameters;
    }

    /// <summary>The valid synthetic generators.</summary>
    public static readonly IReadOnlyList<string> SyntheticKinds = ["xor", "xor-clouds", "gaussians", "circles", "spirals", "blobs"];

    const string Forms = "digits, fashion-mnist[?split=train|test], idx:DIR[?split=train|test], csv:FILE[?label=last|first|none|NAME|INDEX&header=auto|yes|no], npy:X.npy[,y.npy], synthetic:KIND[?n=N&noise=X&seed=S] (KIND: xor, xor-clouds, gaussians, circles, spirals, blobs; gaussians also dims=, blobs also classes= and dims=)";

    /// <summary>Parameter names and defaults per scheme (synthetic: per generator), in canonical order.</summary>
    static (string Name, string Default)[] ParameterTable(string scheme, string? kind) => (scheme, kind) switch
    {
        ("digits", _) => [],
        ("npy", _) => [],
        ("fashion-mnist", _) or ("idx", _) => [("split", "train")],
        ("csv", _) => [("label", "last"), ("header", "auto")],
        ("synthetic", "xor") => [],
        ("synthetic", "xor-clouds") => [("n", "400"), ("noise", "0.15"), ("seed", "0")],
        ("synthetic", "gaussians") => [("n", "400"), ("dims", "2"), ("noise", "0.5"), ("seed", "0")],
        ("synthetic", "circles") => [("n", "400"), ("noise", "0.05"), ("seed", "0")],
        ("synthetic", "spirals") => [("n", "400"), ("noise", "0.05"), ("seed", "0")],
        ("synthetic", "blobs") => [("n", "600"), ("classes", "3"), ("dims", "2"), ("noise", "1"), ("seed", "0")],
        _ => throw new InvalidOperationException(),
    };

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
            case "idx" or "csv" or "npy":
                if (string.IsNullOrEmpty(target)) throw new ProbeException($"Data source '{scheme}' needs a path, as in {scheme}:{(scheme == "idx" ? "DIR" : scheme == "csv" ? "FILE.csv" : "X.npy[,y.npy]")}.");
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
            if (eq <= 0) throw new ProbeException($"Data source parameter '{pair}' in '{spec}' is not of the form name=value.");
            string key = pair[..eq].Trim().ToLowerInvariant(), value = pair[(eq + 1)..].Trim();
            if (!table.Any(t => t.Name == key))
                throw new ProbeException(table.Length == 0
                    ? $"Data source '{Describe(scheme, target)}' takes no parameters, got '{key}'."
                    : $"Unknown parameter '{key}' for data source '{Describe(scheme, target)}'; valid: {string.Join(", ", table.Select(t => t.Name))}.");
            if (!given.TryAdd(key, value)) throw new ProbeException($"Parameter '{key}' is given twice in '{spec}'.");
        }
        var parameters = table.Select(t => new KeyValuePair<string, string>(t.Name, Normalize(scheme, t.Name, given.GetValueOrDefault(t.Name, t.Default)))).ToList();
        return new DataSource(scheme, target, labels, parameters);
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

    /// <summary>Loads the data set.</summary>
    public Dataset Load() => Scheme switch
    {
        "digits" => Datasets.Digits(),
        "fashion-mnist" => LoadFashionMnist(Datasets.FashionMnistDirectory, Get("split") == "train"),
        "idx" => Datasets.FromIdxDirectory(Target!, Get("split") == "train"),
        "csv" => Csv.Read(Target!, Get("label"), Get("header") switch { "yes" => true, "no" => false, _ => null }),
        "npy" => LoadNpy(Target!, LabelsPath),
        "synthetic" => Target switch
        {
            "xor" => Synthetic.Xor(),
            "xor-clouds" => Synthetic.XorClouds(GetInt("n"), GetDouble("noise"), GetInt("seed")),
            "gaussians" => Synthetic.Gaussians(GetInt("n"), GetDouble("noise"), GetInt("seed"), GetInt("dims")),
            "circles" => Synthetic.Circles(GetInt("n"), GetDouble("noise"), GetInt("seed")),
            "spirals" => Synthetic.Spirals(GetInt("n"), GetDouble("noise"), GetInt("seed")),
            "blobs" => Synthetic.Blobs(GetInt("n"), GetInt("classes"), GetInt("dims"), GetDouble("noise"), GetInt("seed")),
            _ => throw new InvalidOperationException(),
        },
        _ => throw new InvalidOperationException(),
    };

    internal static Dataset LoadFashionMnist(string dir, bool train)
    {
        if (!Directory.Exists(dir))
            throw new ProbeException($"Fashion-MNIST is not installed (no directory {dir}). On Debian or Ubuntu install it with: sudo apt-get install dataset-fashion-mnist. Or download the four IDX files and use idx:DIR.");
        var d = Datasets.FromIdxDirectory(dir, train);
        return d with { Name = train ? "fashion-mnist-train" : "fashion-mnist-test" };
    }

    static Dataset LoadNpy(string xPath, string? yPath)
    {
        var x = Npy.Read(xPath);
        if (x.Shape.Length == 0) throw new ProbeException($"NPY file '{xPath}' holds a single number, not samples.");
        var features = Npy.ToMatrix(x, xPath);
        int[] sampleShape = x.Shape.Length == 1 ? [1] : x.Shape[1..];
        int[]? labels = null;
        if (yPath != null)
        {
            labels = Npy.ReadInt32(yPath);
            if (labels.Length != features.Rows)
                throw new ProbeException($"NPY features '{xPath}' have {features.Rows} samples but labels '{yPath}' have {labels.Length}.");
        }
        return new Dataset(Path.GetFileNameWithoutExtension(xPath), features, labels, sampleShape).Validate();
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
        return Parameters.Count == 0 ? head : head + "?" + string.Join("&", Parameters.Select(p => $"{p.Key}={p.Value}"));
    }

    public override bool Equals(object? obj) => obj is DataSource other && other.ToString() == ToString();
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToString());
}
