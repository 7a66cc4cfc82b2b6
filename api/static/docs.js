// The API reference at /docs: fetches /openapi.json and lists every operation with its
// parameters, request body and responses. Plain DOM (textContent only, nothing parsed as HTML),
// no library and nothing loaded from elsewhere, so the page keeps the upload page's strict CSP.
"use strict";

const METHODS = ["get", "head", "post", "put", "patch", "delete"];
let spec = null;

// Append the children that are there (append() would write a null out as "null").
function add(node, ...children) {
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return add(node, ...children);
}

// Descriptions are CommonMark in the spec; shown as text, with `code` spans kept.
function prose(text, tag = "div") {
  const node = el(tag, {class: "description"});
  String(text || "").split("`").forEach((part, index) => {
    node.append(index % 2 ? el("code", {}, part) : part);
  });
  return node;
}

function refName(ref) {
  return ref.split("/").pop();
}

function resolve(item) {
  // Parameters, responses and headers may be $refs to components.
  let seen = 0;
  while (item && item.$ref && seen++ < 10) {
    const path = item.$ref.replace(/^#\//, "").split("/");
    item = path.reduce((node, key) => (node ? node[key] : undefined), spec);
  }
  return item || {};
}

function typeText(schema) {
  if (!schema) return "any";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  const types = [].concat(schema.type || []);
  if (types.includes("array")) return `array of ${typeText(schema.items || (schema.prefixItems || [])[0])}`;
  if (schema.format) return `${types.join(" | ")} (${schema.format})`;
  if (types.length) return types.join(" | ");
  for (const key of ["oneOf", "anyOf", "allOf"]) {
    if (schema[key]) return `${key} ${schema[key].map(typeText).join(", ")}`;
  }
  return schema.properties ? "object" : "any";
}

// A schema as a nested list: a $ref links to its definition below, objects list their properties.
function schemaView(schema, depth = 0) {
  const node = el("div", {class: "schema"});
  const type = schema && schema.$ref
    ? el("a", {href: `#schema-${refName(schema.$ref)}`, class: "type"}, refName(schema.$ref))
    : el("span", {class: "type"}, typeText(schema));
  node.append(type);
  if (!schema || schema.$ref || depth > 4) return node;
  if (schema.description && depth > 0) node.append(" — ", prose(schema.description, "span"));
  const required = new Set(schema.required || []);
  const properties = Object.entries(schema.properties || {});
  if (properties.length) {
    const list = el("ul");
    for (const [name, property] of properties) {
      const item = el("li", {}, el("span", {class: "name"}, name), " ");
      if (required.has(name)) item.append(el("span", {class: "required"}, "required"), " ");
      const view = schemaView(property, depth + 1);
      if (property.$ref && property.description) view.append(" — ", prose(property.description, "span"));
      item.append(view);
      list.append(item);
    }
    node.append(list);
  }
  for (const key of ["oneOf", "anyOf", "allOf"]) {
    if (!schema[key]) continue;
    const list = el("ul");
    for (const part of schema[key]) list.append(el("li", {}, schemaView(part, depth + 1)));
    node.append(list);
  }
  if (schema.items && (schema.items.properties || schema.items.oneOf)) node.append(schemaView(schema.items, depth + 1));
  return node;
}

function parametersView(parameters) {
  if (!parameters.length) return null;
  const body = el("tbody");
  for (const parameter of parameters.map(resolve)) {
    body.append(el("tr", {class: "parameter"},
      el("td", {}, el("code", {}, parameter.name), parameter.required ? el("span", {class: "required"}, " required") : null),
      el("td", {}, parameter.in),
      el("td", {}, schemaView(parameter.schema || {}, 1)),
      el("td", {}, prose(parameter.description || (parameter.schema || {}).description || ""))));
  }
  return el("div", {}, el("h4", {}, "Parameters"),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"),
      el("th", {}, "description"))), body));
}

function contentView(content) {
  const node = el("div");
  for (const [media, entry] of Object.entries(content || {})) {
    node.append(el("div", {class: "media"}, media), schemaView(entry.schema || {}));
  }
  return node;
}

function responsesView(responses) {
  const body = el("tbody");
  for (const [status, raw] of Object.entries(responses || {})) {
    const response = resolve(raw);
    const headers = Object.entries(response.headers || {}).map(([name, header]) => {
      const resolved = resolve(header);
      return el("div", {}, el("code", {}, name), resolved.description ? prose(` ${resolved.description}`, "span") : null);
    });
    body.append(el("tr", {class: "response", "data-status": status},
      el("td", {class: "status"}, status),
      el("td", {}, prose(response.description), ...headers),
      el("td", {}, contentView(response.content))));
  }
  return el("div", {}, el("h4", {}, "Responses"),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "meaning"),
      el("th", {}, "body"))), body));
}

function authText(operation) {
  const security = operation.security || spec.security || [];
  if (!security.length) return "No key needed.";
  const names = security.map((requirement) => Object.keys(requirement).join(" + ") || "none");
  return `Auth: ${names.join(" or ")}.`;
}

function operationView(path, method, item, operation) {
  const id = operation.operationId || `${method}-${path}`;
  const section = el("section", {class: "operation", id, "data-method": method, "data-path": path},
    el("h3", {}, el("span", {class: "method"}, method), " ", el("span", {class: "path"}, path)),
    el("div", {class: "summary"}, operation.summary || ""),
    operation.description ? prose(operation.description) : null,
    el("div", {class: "auth"}, authText(operation)),
    parametersView([...(item.parameters || []), ...(operation.parameters || [])]));
  if (operation.requestBody) {
    const requestBody = resolve(operation.requestBody);
    add(section, el("h4", {}, "Request body"), requestBody.description ? prose(requestBody.description) : null,
      contentView(requestBody.content));
  }
  section.append(responsesView(operation.responses));
  return section;
}

function render() {
  document.title = `${spec.info.title} ${spec.info.version} API reference`;
  document.getElementById("title").textContent = `${spec.info.title} ${spec.info.version} API reference`;
  document.getElementById("intro").append(prose(spec.info.description));
  const byTag = new Map((spec.tags || []).map((tag) => [tag.name, []]));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS.filter((name) => item[name])) {
      const tag = (item[method].tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, item, item[method]]);
    }
  }
  const operations = document.getElementById("operations");
  const contents = el("ul");
  operations.replaceChildren();
  for (const [tag, entries] of byTag) {
    if (!entries.length) continue;
    const about = (spec.tags || []).find((known) => known.name === tag);
    add(operations, el("h2", {class: "tag", id: `tag-${tag}`}, tag), about ? prose(about.description) : null);
    for (const [path, method, item, operation] of entries) {
      const view = operationView(path, method, item, operation);
      operations.append(view);
      contents.append(el("li", {}, el("a", {href: `#${view.id}`}, `${method.toUpperCase()} ${path}`)));
    }
  }
  document.getElementById("contents").append(contents);
  const schemas = document.getElementById("schemas");
  schemas.append(el("h2", {class: "tag"}, "Schemas"));
  for (const [name, schema] of Object.entries((spec.components || {}).schemas || {})) {
    schemas.append(el("section", {class: "operation", id: `schema-${name}`}, el("h3", {}, name),
      schema.description ? prose(schema.description) : null, schemaView({...schema, description: undefined})));
  }
}

fetch("openapi.json")
  .then((response) => {
    if (!response.ok) throw new Error(`openapi.json answered ${response.status}`);
    return response.json();
  })
  .then((document_) => {
    spec = document_;
    render();
  })
  .catch((error) => {
    document.getElementById("operations").replaceChildren(el("p", {class: "error"}, String(error)));
  });
