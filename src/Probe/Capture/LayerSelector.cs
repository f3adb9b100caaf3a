using System.Text.RegularExpressions;
using TorchSharp;

namespace Probe.Capture;

/// <summary>
/// Which modules of a model to capture. A selector is a comma-separated list of terms:
/// <list type="bullet">
/// <item><c>all</c> or <c>leaves</c>: every leaf module (the default);</item>
/// <item>an exact name (<c>fc2</c>, <c>features.3</c>);</item>
/// <item>a glob with <c>*</c> and <c>?</c> (<c>features.*</c>, <c>*relu*</c>);</item>
/// <item><c>type:NAME</c>: every module of that type (<c>type:Linear</c>, <c>type:ReLU</c>, case-insensitive).</item>
/// </list>
/// Every term must match at least one module, otherwise the error lists the model's real names and types.
/// Selected modules are returned in the model's registration order.
/// </summary>
public sealed record LayerSelector(string Text = "all")
{
    public static LayerSelector All { get; } = new("all");

    /// <summary>Resolves the selector against a model: the (name, module) pairs it selects.</summary>
    public IReadOnlyList<(string Name, torch.nn.Module Module)> Resolve(torch.nn.Module model)
    {
        var modules = model.named_modules().Where(m => m.name.Length > 0).Select(m => (Name: m.name, Module: m.module)).ToList();
        if (modules.Count == 0) modules.Add(("model", model));
        var leaves = modules.Where(m => !m.Module.children().Any()).ToList();
        var terms = Text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (terms.Length == 0) throw new ProbeArgumentException("The layer selector is empty. " + Available(modules));

        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var term in terms)
        {
            List<(string Name, torch.nn.Module Module)> hits;
            if (term is "all" or "leaves" or "*")
                hits = leaves;
            else if (term.StartsWith("type:", StringComparison.OrdinalIgnoreCase))
            {
                string type = term[5..];
                hits = modules.Where(m => string.Equals(TypeName(m.Module), type, StringComparison.OrdinalIgnoreCase)).ToList();
                if (hits.Count == 0)
                    throw new ProbeArgumentException($"No module of type '{type}'. Types in this model: {string.Join(", ", modules.Select(m => TypeName(m.Module)).Distinct())}.");
            }
            else if (term.Contains('*') || term.Contains('?'))
            {
                var re = new Regex("^" + Regex.Escape(term).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);
                hits = modules.Where(m => re.IsMatch(m.Name)).ToList();
                if (hits.Count == 0) throw new ProbeArgumentException($"The pattern '{term}' matches no layer. " + Available(modules));
            }
            else
            {
                hits = modules.Where(m => m.Name == term).ToList();
                if (hits.Count == 0)
                {
                    var near = modules.Where(m => string.Equals(m.Name, term, StringComparison.OrdinalIgnoreCase)).Select(m => m.Name).FirstOrDefault();
                    throw new ProbeArgumentException($"Unknown layer '{term}'." + (near != null ? $" Did you mean '{near}'?" : "") + " " + Available(modules));
                }
            }
            foreach (var h in hits) chosen.Add(h.Name);
        }
        return modules.Where(m => chosen.Contains(m.Name)).ToList();
    }

    /// <summary>
    /// Resolves the selector against a source's sites: the selected site names in site order. An exact module name
    /// selects every call of that module (<c>relu</c> gives <c>relu#0</c> and <c>relu#1</c> when it runs twice);
    /// <c>name#k</c> selects one call; globs match full site names; <c>type:T</c> matches the op or module type.
    /// <paramref name="notASite"/> (<see cref="IActivationSource.NotASite"/>) explains a name that is not a site.
    /// </summary>
    public IReadOnlyList<string> Resolve(IReadOnlyList<SiteInfo> sites, Func<string, string?>? notASite = null)
    {
        ArgumentNullException.ThrowIfNull(sites);
        var terms = Text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (terms.Length == 0) throw new ProbeArgumentException("The layer selector is empty. " + Available(sites));
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var term in terms)
        {
            List<SiteInfo> hits;
            if (term is "all" or "leaves" or "*")
                hits = sites.Where(s => s.Leaf).ToList();
            else if (term.StartsWith("type:", StringComparison.OrdinalIgnoreCase))
            {
                string type = term[5..];
                hits = sites.Where(s => string.Equals(s.OpType, type, StringComparison.OrdinalIgnoreCase)).ToList();
                if (hits.Count == 0)
                    throw new ProbeArgumentException($"No site of type '{type}'. Types in this model: {string.Join(", ", sites.Select(s => s.OpType).Distinct())}.");
            }
            else if (term.Contains('*') || term.Contains('?'))
            {
                var re = new Regex("^" + Regex.Escape(term).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);
                hits = sites.Where(s => re.IsMatch(s.Name)).ToList();
                if (hits.Count == 0) throw new ProbeArgumentException($"The pattern '{term}' matches no layer. " + Available(sites));
            }
            else
            {
                hits = sites.Where(s => s.Name == term || (s.BaseName == term && s.Name != s.BaseName)).ToList();
                if (hits.Count == 0)
                {
                    if (notASite?.Invoke(term) is string why) throw new ProbeArgumentException(why);
                    var near = sites.Where(s => string.Equals(s.Name, term, StringComparison.OrdinalIgnoreCase) || string.Equals(s.BaseName, term, StringComparison.OrdinalIgnoreCase))
                        .Select(s => s.BaseName).FirstOrDefault();
                    throw new ProbeArgumentException($"Unknown layer '{term}'." + (near != null ? $" Did you mean '{near}'?" : "") + " " + Available(sites));
                }
            }
            foreach (var h in hits) chosen.Add(h.Name);
        }
        return sites.Where(s => chosen.Contains(s.Name)).Select(s => s.Name).ToList();
    }

    static string Available(IEnumerable<SiteInfo> sites) =>
        "Available layers: " + string.Join(", ", sites.Select(s => $"{s.Name} ({s.OpType})")) + ".";

    internal static string TypeName(torch.nn.Module m)
    {
        var name = m.GetType().Name;
        int tick = name.IndexOf('`');
        return tick >= 0 ? name[..tick] : name;
    }

    static string Available(IEnumerable<(string Name, torch.nn.Module Module)> modules) =>
        "Available layers: " + string.Join(", ", modules.Select(m => $"{m.Name} ({TypeName(m.Module)})")) + ".";

    public override string ToString() => Text;
}
