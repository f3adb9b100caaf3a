using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using OxyPlot;

namespace Probe.Reporting;

/// <summary>
/// Collects a summary, sections (definition, text, figures, tables, data) and provenance, and writes a report folder:
/// <c>figures/*.png</c> + <c>*.svg</c>, <c>report.json</c> (data: numbers as numbers, snake_case keys, the schema in
/// <c>schemas/report.schema.json</c>), <c>index.html</c> (a page that reads top to bottom: summary, sections,
/// provenance) and <c>timings.json</c> (wall-clock times, kept out of report.json so it is byte-identical for the same
/// inputs and seed). Everything is written into a hidden staging folder beside the target and moved into place by
/// <see cref="Write"/> only when complete, so an interrupted report leaves no half-written folder; dispose an unwritten
/// report to remove its staging folder.
/// </summary>
public sealed class ReportFolder : IDisposable
{
    /// <summary>The version of report.json's layout (see schemas/report.schema.json).</summary>
    public const int SchemaVersion = 1;

    private readonly List<Section> _sections = new();
    private readonly HashSet<string> _files = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _summary = new();
    private readonly List<string> _warnings = new();
    private readonly SortedDictionary<string, double> _timings = new(StringComparer.Ordinal);
    private bool _written;

    /// <summary>Prepares a report for the folder <paramref name="directory"/> (created or replaced by <see cref="Write"/>).</summary>
    public ReportFolder(string directory, string title = "Probe report", FigureStyle? style = null)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new ProbeException("Report: the output folder is empty.");
        Directory = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        Title = title;
        Style = style ?? FigureStyle.Column;
        WorkingDirectory = StagingDirectory(Directory);
        try
        {
            if (System.IO.Directory.Exists(WorkingDirectory)) System.IO.Directory.Delete(WorkingDirectory, true);
            System.IO.Directory.CreateDirectory(Path.Combine(WorkingDirectory, "figures"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ProbeException($"Report: cannot create a folder beside '{Directory}': {ex.Message}", ex);
        }
    }

    /// <summary>The report folder (absolute) that <see cref="Write"/> creates.</summary>
    public string Directory { get; }

    /// <summary>The staging folder that files are written into until <see cref="Write"/> moves it to <see cref="Directory"/>.</summary>
    public string WorkingDirectory { get; }

    /// <summary>
    /// The staging folder a report for <paramref name="directory"/> is written into by this process (hidden, beside it,
    /// named after the process), so a caller that builds the report through a library entry point can still remove it
    /// if the process is stopped.
    /// </summary>
    public static string StagingDirectory(string directory)
    {
        string full = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        return Path.Combine(Path.GetDirectoryName(full) ?? ".", "." + Path.GetFileName(full) + ".partial-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The report title (page heading and report.json "title").</summary>
    public string Title { get; }

    /// <summary>Default figure style for <see cref="AddFigure(string, string, PlotModel, string, FigureStyle?)"/>.</summary>
    public FigureStyle Style { get; }

    /// <summary>
    /// Let <see cref="Write"/> replace <see cref="Directory"/> even when it is neither empty nor an earlier report (the
    /// CLI's --force); otherwise such a folder is refused (see <see cref="CheckReplaceable"/>) and left as it is.
    /// </summary>
    public bool ReplaceAnyFolder { get; init; }

    /// <summary>The user's figure settings (width, dpi, font size, titles), applied to every figure's preset style.</summary>
    public FigureSettings FigureSettings { get; init; } = FigureSettings.Default;

    /// <summary>The style a figure is drawn with: <paramref name="preset"/> (default <see cref="Style"/>) under <see cref="FigureSettings"/>.</summary>
    public FigureStyle StyleOf(FigureStyle? preset = null) => FigureSettings.Apply(preset ?? Style);

    /// <summary>What produced the report (shown at the end of the page, stored as report.json "provenance").</summary>
    public object? Provenance { get; set; }

    /// <summary>The command line, shown with the provenance and stored in timings.json (not report.json, whose bytes must not depend on the output path).</summary>
    public string? CommandLine { get; set; }

    /// <summary>Adds a sentence to the summary of findings at the top of the page.</summary>
    public void AddSummary(string sentence) => _summary.Add(sentence ?? "");

    /// <summary>Adds a warning (shown under the summary).</summary>
    public void AddWarning(string warning) => _warnings.Add(warning ?? "");

    /// <summary>Records a wall-clock time (written to timings.json only).</summary>
    public void AddTiming(string what, double seconds) => _timings[Key(what)] = Math.Round(seconds, 3);

    /// <summary>Gives a section its one-sentence definition and how to read it (shown first in the section).</summary>
    public void Define(string section, string definition, string howToRead)
    {
        var s = Get(section);
        s.Definition = definition;
        s.HowToRead = howToRead;
    }

    /// <summary>Marks a section as left out, saying why (e.g. it needs checkpoints and the report has one model).</summary>
    public void LeaveOut(string section, string reason) => Get(section).Unavailable = reason;

    /// <summary>Exports <paramref name="model"/> as figures/&lt;section&gt;-&lt;name&gt;.png and .svg and records it with a caption.</summary>
    public void AddFigure(string section, string name, PlotModel model, string caption, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var s = StyleOf(style);
        AddFigure(section, name, path => FigureExporter.Save(model, path, s), caption);
    }

    /// <summary>Records a figure drawn by <paramref name="render"/>, which is called once with the .png path and once with the .svg path.</summary>
    public void AddFigure(string section, string name, Action<string> render, string caption)
    {
        ArgumentNullException.ThrowIfNull(render);
        string stem = "figures/" + Slug(section) + "-" + Slug(name);
        if (!_files.Add(stem)) throw new ProbeException($"Report: section '{section}' already has a figure named '{name}'.");
        string png = stem + ".png", svg = stem + ".svg";
        render(Path.Combine(WorkingDirectory, png));
        render(Path.Combine(WorkingDirectory, svg));
        foreach (var rel in new[] { png, svg })
            if (!File.Exists(Path.Combine(WorkingDirectory, rel)))
                throw new ProbeException($"Report: figure '{name}' in section '{section}' did not write '{rel}'.");
        var (w, h) = CssSize(Path.Combine(WorkingDirectory, png));
        Get(section).Items.Add(new FigureItem(name, caption ?? "", png, svg, w, h));
    }

    /// <summary>Adds a table. Numbers stay numbers in report.json; the page shows them with <see cref="TextTable.Cell"/> (invariant culture), each column of decimals to one number of places (<see cref="TextTable.AlignDecimals"/>).</summary>
    public void AddTable(string section, string title, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<object?>> rows)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(rows);
        var formatted = new List<string[]>();
        var raw = new List<JsonNode?[]>();
        int r = 0;
        foreach (var row in rows)
        {
            if (row is null || row.Count != headers.Count)
                throw new ProbeException($"Report: table '{title}' row {r} has {row?.Count ?? 0} cells but there are {headers.Count} columns.");
            try
            {
                formatted.Add(row.Select(TextTable.Cell).ToArray());
                raw.Add(row.Select(c => JsonOutput.ToNode(c, $"table '{title}'", JsonOutput.ReportOptions)).ToArray());
            }
            catch (ProbeException ex)
            {
                throw new ProbeException($"Report: table '{title}' row {r}: {ex.Message}", ex);
            }
            r++;
        }
        Get(section).Items.Add(new TableItem(title ?? "", headers.ToArray(), [.. TextTable.AlignDecimals(formatted)], raw));
    }

    /// <summary>Adds a JSON-serializable object under <paramref name="name"/> (a snake_case key; checked now: NaN/Infinity throw).</summary>
    public void AddJson(string section, string name, object? value)
    {
        var node = JsonOutput.ToNode(value, $"'{name}' in section '{section}'", JsonOutput.ReportOptions);
        Get(section).Items.Add(new DataItem(Key(name), node));
    }

    /// <summary>Adds a JSON-serializable object named "data", "data_2", ... in its section.</summary>
    public void AddJson(string section, object? value)
    {
        int count = Get(section).Items.OfType<DataItem>().Count();
        AddJson(section, count == 0 ? "data" : "data_" + (count + 1).ToString(CultureInfo.InvariantCulture), value);
    }

    /// <summary>Adds a paragraph of text to a section (shown in index.html, stored in report.json).</summary>
    public void AddText(string section, string text) => Get(section).Items.Add(new TextItem(text ?? ""));

    /// <summary>The report.json tree (what <see cref="Write"/> writes).</summary>
    public JsonObject ToJson()
    {
        var root = new JsonObject
        {
            ["schema_version"] = SchemaVersion,
            ["probe_version"] = ProbeVersion,
            ["title"] = Title,
            ["summary"] = new JsonArray(_summary.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
            ["warnings"] = new JsonArray(_warnings.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
            ["sections"] = new JsonArray(_sections.Select(SectionJson).ToArray<JsonNode?>()),
            ["provenance"] = Provenance is null ? null : JsonOutput.ToNode(Provenance, "the provenance", JsonOutput.ReportOptions),
        };
        return root;
    }

    /// <summary>
    /// Writes report.json, index.html and timings.json, then moves the staging folder to <see cref="Directory"/> (an
    /// existing folder there is replaced); returns the path of index.html.
    /// </summary>
    public string Write()
    {
        if (_written) throw new ProbeException("Report: already written.");
        CheckReplaceable(Directory, ReplaceAnyFolder);
        var json = ToJson();
        var utf8 = new UTF8Encoding(false);
        File.WriteAllText(Path.Combine(WorkingDirectory, "report.json"), json.ToJsonString(JsonOutput.ReportOptions) + "\n", utf8);
        var timings = new JsonObject
        {
            ["written_utc"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["command_line"] = CommandLine,
            ["seconds"] = new JsonObject(_timings.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
        };
        File.WriteAllText(Path.Combine(WorkingDirectory, "timings.json"), timings.ToJsonString(JsonOutput.ReportOptions) + "\n", utf8);
        File.WriteAllText(Path.Combine(WorkingDirectory, "index.html"), Html(), utf8);
        Commit();
        _written = true;
        return Path.Combine(Directory, "index.html");
    }

    /// <summary>Removes the staging folder of a report that was not written.</summary>
    public void Dispose()
    {
        if (_written) return;
        try
        {
            if (System.IO.Directory.Exists(WorkingDirectory)) System.IO.Directory.Delete(WorkingDirectory, true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the staging folder is hidden and named after the process.
        }
    }

    private void Commit()
    {
        string? old = null;
        if (System.IO.Directory.Exists(Directory))
        {
            old = WorkingDirectory + ".old";
            System.IO.Directory.Move(Directory, old);
        }
        System.IO.Directory.Move(WorkingDirectory, Directory);
        if (old != null) System.IO.Directory.Delete(old, true);
    }

    /// <summary>
    /// Refuses to replace a folder that is neither empty nor a Probe report (it has no report.json) unless
    /// <paramref name="force"/>: a report replaces its whole folder.
    /// </summary>
    public static void CheckReplaceable(string directory, bool force)
    {
        if (force || !System.IO.Directory.Exists(directory)) return;
        if (!System.IO.Directory.EnumerateFileSystemEntries(directory).Any()) return;
        if (File.Exists(Path.Combine(directory, "report.json"))) return;
        throw new ProbeException($"'{directory}' exists and is not a Probe report folder; the report replaces its folder, so give a new folder or add --force.");
    }

    /// <summary>The informational version of the Probe library ("0.1.0", without build metadata).</summary>
    public static string ProbeVersion { get; } = ReadVersion();

    private static string ReadVersion()
    {
        var asm = typeof(ProbeException).Assembly;
        string v = asm.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? asm.GetName().Version?.ToString() ?? "0";
        int plus = v.IndexOf('+');
        return plus >= 0 ? v[..plus] : v;
    }

    private static JsonNode SectionJson(Section s)
    {
        var figures = new JsonArray();
        var tables = new JsonArray();
        var data = new JsonObject();
        var text = new JsonArray();
        foreach (var item in s.Items)
        {
            switch (item)
            {
                case FigureItem f:
                    figures.Add(new JsonObject
                    {
                        ["name"] = f.Name, ["caption"] = f.Caption, ["png"] = f.Png, ["svg"] = f.Svg,
                        ["width_px"] = f.WidthPx, ["height_px"] = f.HeightPx,
                    });
                    break;
                case TableItem t:
                    tables.Add(new JsonObject
                    {
                        ["title"] = t.Title,
                        ["columns"] = new JsonArray(t.Headers.Select(h => (JsonNode?)JsonValue.Create(h)).ToArray()),
                        ["rows"] = new JsonArray(t.Raw.Select(row => (JsonNode?)new JsonArray(row.Select(c => c?.DeepClone()).ToArray())).ToArray()),
                    });
                    break;
                case DataItem d:
                    if (data.ContainsKey(d.Name)) throw new ProbeException($"Report: section '{s.Name}' already has data named '{d.Name}'.");
                    data[d.Name] = d.Value?.DeepClone();
                    break;
                case TextItem x:
                    text.Add(x.Text);
                    break;
            }
        }
        return new JsonObject
        {
            ["id"] = Slug(s.Name),
            ["name"] = s.Name,
            ["definition"] = s.Definition,
            ["how_to_read"] = s.HowToRead,
            ["left_out"] = s.Unavailable,
            ["text"] = text,
            ["figures"] = figures,
            ["tables"] = tables,
            ["data"] = data,
        };
    }

    private string Html()
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        sb.Append("<title>").Append(E(Title)).Append("</title>\n<style>\n");
        sb.Append("body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:62rem;margin:1.2rem auto;padding:0 1rem;color:#222;line-height:1.45}\n");
        sb.Append("h1{font-size:1.5rem;margin:.2rem 0 .6rem}h2{font-size:1.2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}\n");
        sb.Append("#summary{background:#f4f7fb;border:1px solid #d5dfeb;padding:.5rem 1rem;border-radius:4px}#summary ul{margin:.3rem 0;padding-left:1.2rem}\n");
        sb.Append(".definition{font-style:italic}.leftout{color:#7a4b00}.warning{color:#8a1c1c}\n");
        sb.Append("figure{margin:1rem 0}figure img{display:block;max-width:100%;height:auto}\n");
        sb.Append("figcaption{font-size:.88rem;color:#444;margin-top:.3rem;max-width:48rem}\n");
        sb.Append(".table{max-width:100%;overflow-x:auto}table{border-collapse:collapse;margin:1rem 0;font-size:.88rem}caption{text-align:left;font-weight:bold;margin-bottom:.3rem}\n");
        sb.Append("th,td{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}\n");
        sb.Append("pre{background:#f6f6f6;padding:.6rem;overflow:auto;font-size:.8rem;max-height:24rem;white-space:pre-wrap;word-break:break-all}nav a{margin-right:1rem}\n");
        sb.Append("dl.prov{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;font-size:.88rem}dl.prov dd{margin:0;word-break:break-all}\n");
        sb.Append("</style>\n</head>\n<body>\n<h1>").Append(E(Title)).Append("</h1>\n");
        sb.Append("<section id=\"summary\">\n<h2 style=\"margin-top:.4rem;border:0\">Summary of findings</h2>\n<ul>\n");
        foreach (var s in _summary) sb.Append("<li>").Append(E(s)).Append("</li>\n");
        foreach (var w in _warnings) sb.Append("<li class=\"warning\">Warning: ").Append(E(w)).Append("</li>\n");
        sb.Append("</ul>\n</section>\n");
        if (_sections.Count > 1)
        {
            sb.Append("<nav>");
            foreach (var s in _sections) sb.Append("<a href=\"#").Append(E(Slug(s.Name))).Append("\">").Append(E(s.Name)).Append("</a>");
            sb.Append("<a href=\"#provenance\">Provenance</a></nav>\n");
        }
        foreach (var s in _sections)
        {
            sb.Append("<section id=\"").Append(E(Slug(s.Name))).Append("\">\n<h2>").Append(E(s.Name)).Append("</h2>\n");
            if (s.Definition != null) sb.Append("<p class=\"definition\">").Append(E(s.Definition)).Append("</p>\n");
            if (s.HowToRead != null) sb.Append("<p><b>How to read it:</b> ").Append(E(s.HowToRead)).Append("</p>\n");
            if (s.Unavailable != null) sb.Append("<p class=\"leftout\"><b>Left out:</b> ").Append(E(s.Unavailable)).Append("</p>\n");
            foreach (var item in s.Items)
            {
                switch (item)
                {
                    case TextItem x:
                        sb.Append("<p>").Append(E(x.Text)).Append("</p>\n");
                        break;
                    case FigureItem f:
                        sb.Append("<figure>\n<img src=\"").Append(E(f.Png)).Append("\" width=\"").Append(f.WidthPx.ToString(CultureInfo.InvariantCulture))
                          .Append("\" height=\"").Append(f.HeightPx.ToString(CultureInfo.InvariantCulture))
                          .Append("\" alt=\"").Append(E(f.Caption.Length > 0 ? f.Caption : f.Name)).Append("\">\n");
                        sb.Append("<figcaption>").Append(E(f.Caption)).Append(" <a href=\"").Append(E(f.Svg)).Append("\">SVG</a></figcaption>\n</figure>\n");
                        break;
                    case TableItem t:
                        sb.Append("<div class=\"table\"><table>\n");
                        if (t.Title.Length > 0) sb.Append("<caption>").Append(E(t.Title)).Append("</caption>\n");
                        sb.Append("<thead><tr>");
                        foreach (var h in t.Headers) sb.Append("<th>").Append(E(h)).Append("</th>");
                        sb.Append("</tr></thead>\n<tbody>\n");
                        for (int r = 0; r < t.Rows.Count; r++)
                        {
                            sb.Append("<tr>");
                            for (int c = 0; c < t.Rows[r].Length; c++)
                            {
                                bool num = t.Raw[r][c] is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number;
                                sb.Append(num ? "<td class=\"num\">" : "<td>").Append(E(t.Rows[r][c])).Append("</td>");
                            }
                            sb.Append("</tr>\n");
                        }
                        sb.Append("</tbody>\n</table></div>\n");
                        break;
                    case DataItem d:
                        sb.Append("<details><summary>").Append(E(d.Name)).Append(" (JSON)</summary>\n<pre>")
                          .Append(E(d.Value?.ToJsonString(JsonOutput.ReportOptions) ?? "null")).Append("</pre></details>\n");
                        break;
                }
            }
            sb.Append("</section>\n");
        }
        sb.Append("<section id=\"provenance\">\n<h2>Provenance</h2>\n<dl class=\"prov\">\n");
        sb.Append("<dt>Probe version</dt><dd>").Append(E(ProbeVersion)).Append("</dd>\n");
        if (CommandLine != null) sb.Append("<dt>command line</dt><dd><code>").Append(E(CommandLine)).Append("</code></dd>\n");
        if (Provenance != null && JsonOutput.ToNode(Provenance, "the provenance", JsonOutput.ReportOptions) is JsonObject prov)
            foreach (var (k, v) in Flatten("", prov))
                if (!k.Equals("probe version", StringComparison.OrdinalIgnoreCase)) // shown above
                    sb.Append("<dt>").Append(E(k)).Append("</dt><dd>").Append(E(v)).Append("</dd>\n");
        sb.Append("</dl>\n<p style=\"font-size:.85rem;color:#555\">All numbers: <a href=\"report.json\">report.json</a> (schema version ")
          .Append(SchemaVersion.ToString(CultureInfo.InvariantCulture)).Append("); wall-clock times: <a href=\"timings.json\">timings.json</a>.</p>\n</section>\n</body>\n</html>\n");
        return sb.ToString();
    }

    private static IEnumerable<(string Key, string Value)> Flatten(string prefix, JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o)
                    foreach (var x in Flatten(prefix.Length == 0 ? k.Replace('_', ' ') : prefix + " " + k.Replace('_', ' '), v)) yield return x;
                break;
            case JsonArray a:
                if (a.All(x => x is JsonValue or null))
                    yield return (prefix, string.Join(", ", a.Select(x => x?.ToString() ?? "null")));
                else
                    // A list of objects (the models of a comparison): one entry per field, numbered from 1.
                    for (int i = 0; i < a.Count; i++)
                        foreach (var x in Flatten(prefix + " " + (i + 1).ToString(CultureInfo.InvariantCulture), a[i])) yield return x;
                break;
            case null:
                yield return (prefix, "none");
                break;
            default:
                yield return (prefix, node.ToString());
                break;
        }
    }

    /// <summary>The size the PNG was drawn at, in CSS pixels (96 per inch): pixel size x 96 / its pHYs dpi.</summary>
    internal static (int Width, int Height) CssSize(string png)
    {
        var b = File.ReadAllBytes(png);
        if (b.Length < 33 || b[12] != 'I' || b[13] != 'H' || b[14] != 'D' || b[15] != 'R')
            throw new ProbeException($"Report: '{png}' is not a PNG file.");
        int w = (b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19];
        int h = (b[20] << 24) | (b[21] << 16) | (b[22] << 8) | b[23];
        double dpi = 96;
        int pos = 33;
        while (pos + 12 <= b.Length)
        {
            int len = (b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3];
            string type = Encoding.ASCII.GetString(b, pos + 4, 4);
            if (type == "pHYs" && len >= 9)
            {
                uint ppm = (uint)((b[pos + 8] << 24) | (b[pos + 9] << 16) | (b[pos + 10] << 8) | b[pos + 11]);
                if (b[pos + 16] == 1 && ppm > 0) dpi = ppm * 0.0254;
                break;
            }
            if (type == "IDAT") break;
            pos += 12 + len;
        }
        return ((int)Math.Round(w * 96 / dpi), (int)Math.Round(h * 96 / dpi));
    }

    private Section Get(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ProbeException("Report: section name is empty.");
        var s = _sections.FirstOrDefault(x => x.Name == name);
        if (s == null)
        {
            s = new Section(name);
            _sections.Add(s);
        }
        return s;
    }

    /// <summary>A snake_case key for report.json: lower-case ASCII letters, digits and '_'.</summary>
    internal static string Key(string text) => Slug(text).Replace('-', '_');

    /// <summary>Lower-case ASCII letters, digits and '-', for file names and anchors.</summary>
    internal static string Slug(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ProbeException("Report: a section or figure name is empty.");
        var sb = new StringBuilder();
        foreach (char ch in text.Trim().ToLowerInvariant())
        {
            if (ch is >= 'a' and <= 'z' or >= '0' and <= '9') sb.Append(ch);
            else if (sb.Length > 0 && sb[^1] != '-') sb.Append('-');
        }
        var slug = sb.ToString().Trim('-');
        if (slug.Length == 0)
        {
            // Names without ASCII letters or digits still need a stable file name.
            slug = "n" + PngDpi.Crc32(Encoding.UTF8.GetBytes(text)).ToString("x8", CultureInfo.InvariantCulture);
        }
        return slug;
    }

    private sealed record Section(string Name)
    {
        public List<object> Items { get; } = new();
        public string? Definition { get; set; }
        public string? HowToRead { get; set; }
        public string? Unavailable { get; set; }
    }

    private sealed record FigureItem(string Name, string Caption, string Png, string Svg, int WidthPx, int HeightPx);
    private sealed record TableItem(string Title, string[] Headers, List<string[]> Rows, List<JsonNode?[]> Raw);
    private sealed record DataItem(string Name, JsonNode? Value);
    private sealed record TextItem(string Text);
}
