using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using OxyPlot;

namespace Probe.Reporting;

/// <summary>
/// Collects figures, tables and data in named sections and writes a report folder: figures/*.png + *.svg (written
/// when added), report.json (all sections' data) and index.html (a self-contained page; images by relative path).
/// </summary>
public sealed class ReportFolder
{
    private readonly List<Section> _sections = new();
    private readonly HashSet<string> _files = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Creates (or reuses) the folder <paramref name="directory"/>.</summary>
    public ReportFolder(string directory, string title = "Probe report", FigureStyle? style = null)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new ProbeException("Report: the output folder is empty.");
        Directory = Path.GetFullPath(directory);
        Title = title;
        Style = style ?? FigureStyle.Column;
        try
        {
            System.IO.Directory.CreateDirectory(Path.Combine(Directory, "figures"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ProbeException($"Report: cannot create folder '{Directory}': {ex.Message}", ex);
        }
    }

    /// <summary>The report folder (absolute).</summary>
    public string Directory { get; }

    /// <summary>The report title (page heading and report.json "title").</summary>
    public string Title { get; }

    /// <summary>Default figure style for <see cref="AddFigure(string, string, PlotModel, string, FigureStyle?)"/>.</summary>
    public FigureStyle Style { get; }

    /// <summary>Exports <paramref name="model"/> as figures/&lt;section&gt;-&lt;name&gt;.png and .svg and records it with a caption.</summary>
    public void AddFigure(string section, string name, PlotModel model, string caption, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var s = style ?? Style;
        AddFigure(section, name, path => FigureExporter.Save(model, path, s), caption);
    }

    /// <summary>Records a figure drawn by <paramref name="render"/>, which is called once with the .png path and once with the .svg path.</summary>
    public void AddFigure(string section, string name, Action<string> render, string caption)
    {
        ArgumentNullException.ThrowIfNull(render);
        string stem = "figures/" + Slug(section) + "-" + Slug(name);
        if (!_files.Add(stem)) throw new ProbeException($"Report: section '{section}' already has a figure named '{name}'.");
        string png = stem + ".png", svg = stem + ".svg";
        render(Path.Combine(Directory, png));
        render(Path.Combine(Directory, svg));
        foreach (var rel in new[] { png, svg })
            if (!File.Exists(Path.Combine(Directory, rel)))
                throw new ProbeException($"Report: figure '{name}' in section '{section}' did not write '{rel}'.");
        Get(section).Items.Add(new FigureItem(name, caption ?? "", png, svg));
    }

    /// <summary>Adds a table; cells are formatted with <see cref="TextTable.Cell"/> (invariant culture).</summary>
    public void AddTable(string section, string title, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<object?>> rows)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(rows);
        var formatted = new List<string[]>();
        int r = 0;
        foreach (var row in rows)
        {
            if (row is null || row.Count != headers.Count)
                throw new ProbeException($"Report: table '{title}' row {r} has {row?.Count ?? 0} cells but there are {headers.Count} columns.");
            try
            {
                formatted.Add(row.Select(TextTable.Cell).ToArray());
            }
            catch (ProbeException ex)
            {
                throw new ProbeException($"Report: table '{title}' row {r}: {ex.Message}", ex);
            }
            r++;
        }
        Get(section).Items.Add(new TableItem(title ?? "", headers.ToArray(), formatted));
    }

    /// <summary>Adds a JSON-serializable object under <paramref name="name"/> (checked now: NaN/Infinity throw).</summary>
    public void AddJson(string section, string name, object? value)
    {
        var node = JsonOutput.ToNode(value, $"'{name}' in section '{section}'");
        Get(section).Items.Add(new DataItem(name, node));
    }

    /// <summary>Adds a JSON-serializable object named "data", "data2", ... in its section.</summary>
    public void AddJson(string section, object? value)
    {
        int count = Get(section).Items.OfType<DataItem>().Count();
        AddJson(section, count == 0 ? "data" : "data" + (count + 1).ToString(CultureInfo.InvariantCulture), value);
    }

    /// <summary>Adds a paragraph of text to a section (shown in index.html, stored in report.json).</summary>
    public void AddText(string section, string text) => Get(section).Items.Add(new TextItem(text ?? ""));

    /// <summary>Writes report.json and index.html; returns the path of index.html.</summary>
    public string Write()
    {
        var root = new JsonObject
        {
            ["title"] = Title,
            ["sections"] = new JsonArray(_sections.Select(SectionJson).ToArray<JsonNode?>()),
        };
        File.WriteAllText(Path.Combine(Directory, "report.json"), root.ToJsonString(JsonOutput.Options) + "\n", new UTF8Encoding(false));
        string index = Path.Combine(Directory, "index.html");
        File.WriteAllText(index, Html(), new UTF8Encoding(false));
        return index;
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
                    figures.Add(new JsonObject { ["name"] = f.Name, ["caption"] = f.Caption, ["png"] = f.Png, ["svg"] = f.Svg });
                    break;
                case TableItem t:
                    tables.Add(new JsonObject
                    {
                        ["title"] = t.Title,
                        ["headers"] = new JsonArray(t.Headers.Select(h => (JsonNode?)JsonValue.Create(h)).ToArray()),
                        ["rows"] = new JsonArray(t.Rows.Select(row => (JsonNode?)new JsonArray(row.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray())).ToArray()),
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
        return new JsonObject { ["name"] = s.Name, ["text"] = text, ["figures"] = figures, ["tables"] = tables, ["data"] = data };
    }

    private string Html()
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        sb.Append("<title>").Append(E(Title)).Append("</title>\n<style>\n");
        sb.Append("body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}\n");
        sb.Append("h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.2rem}\n");
        sb.Append("figure{margin:1.2rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}\n");
        sb.Append("figcaption{font-size:.9rem;color:#444;margin-top:.3rem}\n");
        sb.Append("table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}caption{text-align:left;font-weight:bold;margin-bottom:.3rem}\n");
        sb.Append("th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}\n");
        sb.Append("pre{background:#f6f6f6;padding:.6rem;overflow:auto;font-size:.8rem}nav a{margin-right:1rem}\n");
        sb.Append("</style>\n</head>\n<body>\n<h1>").Append(E(Title)).Append("</h1>\n");
        if (_sections.Count > 1)
        {
            sb.Append("<nav>");
            foreach (var s in _sections) sb.Append("<a href=\"#").Append(E(Slug(s.Name))).Append("\">").Append(E(s.Name)).Append("</a>");
            sb.Append("</nav>\n");
        }
        foreach (var s in _sections)
        {
            sb.Append("<section id=\"").Append(E(Slug(s.Name))).Append("\">\n<h2>").Append(E(s.Name)).Append("</h2>\n");
            foreach (var item in s.Items)
            {
                switch (item)
                {
                    case TextItem x:
                        sb.Append("<p>").Append(E(x.Text)).Append("</p>\n");
                        break;
                    case FigureItem f:
                        sb.Append("<figure>\n<img src=\"").Append(E(f.Png)).Append("\" alt=\"").Append(E(f.Caption.Length > 0 ? f.Caption : f.Name)).Append("\">\n");
                        sb.Append("<figcaption>").Append(E(f.Caption)).Append(" <a href=\"").Append(E(f.Svg)).Append("\">SVG</a></figcaption>\n</figure>\n");
                        break;
                    case TableItem t:
                        sb.Append("<table>\n");
                        if (t.Title.Length > 0) sb.Append("<caption>").Append(E(t.Title)).Append("</caption>\n");
                        sb.Append("<thead><tr>");
                        foreach (var h in t.Headers) sb.Append("<th>").Append(E(h)).Append("</th>");
                        sb.Append("</tr></thead>\n<tbody>\n");
                        foreach (var row in t.Rows)
                        {
                            sb.Append("<tr>");
                            foreach (var c in row)
                            {
                                bool num = double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
                                sb.Append(num ? "<td class=\"num\">" : "<td>").Append(E(c)).Append("</td>");
                            }
                            sb.Append("</tr>\n");
                        }
                        sb.Append("</tbody>\n</table>\n");
                        break;
                    case DataItem d:
                        sb.Append("<details><summary>").Append(E(d.Name)).Append(" (JSON)</summary>\n<pre>")
                          .Append(E(d.Value?.ToJsonString(JsonOutput.Options) ?? "null")).Append("</pre></details>\n");
                        break;
                }
            }
            sb.Append("</section>\n");
        }
        sb.Append("<p style=\"font-size:.8rem;color:#777\">Full data: <a href=\"report.json\">report.json</a></p>\n</body>\n</html>\n");
        return sb.ToString();
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
    }

    private sealed record FigureItem(string Name, string Caption, string Png, string Svg);
    private sealed record TableItem(string Title, string[] Headers, List<string[]> Rows);
    private sealed record DataItem(string Name, JsonNode? Value);
    private sealed record TextItem(string Text);
}
